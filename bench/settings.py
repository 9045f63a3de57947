"""The project's settings with the bench's URLconf on top (bench/urls.py adds the baseline view). Used only by
bench/pages.py (DJANGO_SETTINGS_MODULE=bench.settings); production never loads it."""

from config.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.urls"
