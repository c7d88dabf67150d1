"""Access and portability: stream the collected pages into one JSON export, remove the pages."""

from step_common import step_handler

lambda_handler = step_handler("assemble_export")
