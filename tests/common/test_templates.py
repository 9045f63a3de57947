"""Pages render with plain Django: the project's template engine and Django's own form renderer, each compiling
a template once per process through the cached loader, under the production settings (DEBUG off)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from django.conf import settings

PROBE = """
import json
import django
django.setup()
from django.forms.renderers import get_default_renderer
from django.template import engines
renderer = get_default_renderer()
print(json.dumps({"debug": django.conf.settings.DEBUG, "renderer": type(renderer).__module__ + "." +
                  type(renderer).__qualname__, "project": engines["django"].engine.loaders,
                  "forms": renderer.engine.engine.loaders}))
"""


def test_production_uses_djangos_form_renderer_and_the_cached_loader():
    # DEBUG off; LEDGERDESK_ENV "test" is production's settings with the fake secrets standing in
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_DEBUG": "0", "LEDGERDESK_ENV": "test",
           "DJANGO_SECRET_KEY": "a-production-like-secret-key-" + "x" * 40}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=settings.BASE_DIR, capture_output=True,
                         text=True, check=True)
    probe = json.loads(out.stdout.strip().splitlines()[-1])
    assert probe["debug"] is False
    assert probe["renderer"] == "django.forms.renderers.DjangoTemplates"
    # the project's engine: django-template-partials' loader (which finds "page.html#partial") around the cached one
    [(partials, project)] = probe["project"]
    assert partials == "template_partials.loader.Loader"
    for loaders in (project, probe["forms"]):
        assert [loader for loader, _ in loaders] == ["django.template.loaders.cached.Loader"]
