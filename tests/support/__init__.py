"""What several test files share: opening a page, the browser and its server, the models, the references.
Test files import from here (or take conftest.py's fixtures), never from one another."""
