"""The sign-in form both sign-in pages build on (staff in backoffice, customers in portal)."""

from django.contrib.auth.forms import AuthenticationForm
from django.core.validators import MaxLengthValidator


class BoundedAuthenticationForm(AuthenticationForm):
    """Django's AuthenticationForm, with the username's length checked before anything is authenticated.

    Django only sets the field's max_length (after the field made its validators), so a 10 kB username went
    to authenticate(), and django-axes' record of the failure (a varchar(255)) overflowed: a 500. Past the
    user model's length it is now a field error on the page, and nothing is looked up or recorded."""

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        field = self.fields["username"]
        field.validators.append(MaxLengthValidator(field.max_length))
