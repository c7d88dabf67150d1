"""Access and portability: one page of the subject's data into a part object in the exports bucket."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("collect_subject_data")
