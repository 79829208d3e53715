"""Developer tools that live with the tests (run as `python -m tests.tools.<name>`)."""
