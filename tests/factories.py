"""Rows the tests make: people and organizations (factory_boy), and the steps their workflows
are made of."""

import factory

from accounts.models import Membership, Organization, Role, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    organization = factory.SubFactory(OrganizationFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


# Steps the tests' workflows are made of (the `workflow` fixtures in the conftest files).
READ = {"id": "text", "step": "extract_text"}
SORT = {"id": "type", "step": "classify", "config": {"labels": ["invoice", "receipt"]}}
FIELDS = {"id": "fields", "step": "extract_fields", "config": {"preset": "invoice"}}
TAG = {"id": "tag", "step": "tag", "config": {"tags": ["intake"]}}
