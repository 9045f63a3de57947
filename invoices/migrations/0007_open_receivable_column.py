"""Invoice.open_receivable: "open receivable invoice" (sent or partially paid, not a top-up invoice) as a stored
generated column computed from invoices.models.OPEN_RECEIVABLE, the rule's one definition, which the ORM,
templates and finance's SQL read instead of spelling the statuses out. The aged receivables index keeps its
name and columns; its condition is now the column."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0013_admin_plurals'),
        ('invoices', '0006_admin_plurals'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='invoice',
            name='invoice_open_receivable_idx',
        ),
        migrations.AddField(
            model_name='invoice',
            name='open_receivable',
            field=models.GeneratedField(db_persist=True, expression=models.Q(('status__in', ['sent', 'partially_paid']), models.Q(('type', 'top_up'), _negated=True)), help_text='Sent or partially paid, not a top-up invoice.', output_field=models.BooleanField()),
        ),
        migrations.AddIndex(
            model_name='invoice',
            index=models.Index(condition=models.Q(('open_receivable', True)), fields=['customer'], include=('currency', 'due_date', 'issue_date', 'sent_at', 'total', 'amount_paid', 'amount_credited'), name='invoice_open_receivable_idx'),
        ),
    ]
