"""Template context for the staff layout."""

from django.utils.functional import SimpleLazyObject


def staff_roles(request):
    """`staff_roles`: the signed-in user's role names (group names, in name order), read only by the templates
    that show them."""

    def names() -> list[str]:
        user = request.user
        if user.is_anonymous:
            return []
        loaded = getattr(user, "staff_role_names", None)  # read with the permissions (common.permissions.load_access)
        return loaded if loaded is not None else list(user.groups.order_by("name").values_list("name", flat=True))

    return {"staff_roles": SimpleLazyObject(names)}
