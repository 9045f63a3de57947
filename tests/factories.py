"""Users for tests: staff in the Finance or Viewer role, superusers, and portal customers."""

import factory
from django.contrib.auth import get_user_model

from backoffice.roles import FINANCE, VIEWER, roles_ensure

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(UserFactory):
    is_staff = True
    username = factory.Sequence(lambda n: f"staff{n}")

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        if create:
            groups = roles_ensure()
            obj.groups.add(groups[extracted or FINANCE])


def finance_user(**kwargs):
    return StaffFactory(role=FINANCE, **kwargs)


def viewer_user(**kwargs):
    return StaffFactory(role=VIEWER, **kwargs)
