"""Access and portability: stream the collected pages into one JSON export, remove the pages."""

from callguard.privacy.step_runner import step_handler

lambda_handler = step_handler("assemble_export")
