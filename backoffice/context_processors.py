"""Template context for the staff layout."""

from django.utils.functional import SimpleLazyObject

from .auth import role_names


def staff_roles(request):
    """`staff_roles`: the signed-in user's role names, read only by the templates that show them."""
    return {"staff_roles": SimpleLazyObject(lambda: list(role_names(request.user)))}
