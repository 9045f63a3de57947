"""Template context for the staff layout."""

from django.utils.functional import SimpleLazyObject


def staff_roles(request):
    """`staff_roles`: the signed-in user's role names (group names, in name order), read only by the templates
    that show them."""

    def names() -> list[str]:
        user = request.user
        return [] if user.is_anonymous else list(user.groups.order_by("name").values_list("name", flat=True))

    return {"staff_roles": SimpleLazyObject(names)}
