"""The audit app's SQL (functions and triggers) is now kept as its current text in audit/sql/chain.sql; this
loads it (CREATE OR REPLACE: the same bodies as migrations 0001-0004, the chain head now locked FOR NO KEY
UPDATE). From now on a change to a body is an edit of that file plus a migration that loads it again."""

from django.db import migrations

from common.sql import load


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_sharded_chain")]

    operations = [load("audit", "chain")]
