"""``python -m examples.registration_page``: serve the example page (configuration from the environment)."""

import os

from examples.registration_page.app import create_app

if __name__ == "__main__":
    port = int(os.environ.get("REGISTRATION_PAGE_PORT", "5100"))
    create_app().run(host="127.0.0.1", port=port)
