"""Tags and custom attribute definitions."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from common.admin_deletion import ConcurrentDeletionAdmin, CountedDeletionAdmin, rows_in_words
from common.admin_forms import ServiceValidatedForm
from common.deletion_reach import Reference
from common.teammates import PROFILE, CreatedByName
from contacts import selectors, services
from contacts.admin.forms import DataAttributeForm
from contacts.models import DataAttribute, Tag


class TagForm(ServiceValidatedForm, forms.ModelForm):
    """A name another tag has (in any case) is an error on the field, not the database's constraint message."""

    class Meta:
        model = Tag
        fields = ["name"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        existing = selectors.tag_get_by_name(name=name)
        if existing is not None and existing.pk != self.instance.pk:
            raise forms.ValidationError("Another tag already has this name.")
        return name


@admin.register(Tag)
class TagAdmin(CreatedByName, CountedDeletionAdmin):
    """Its delete confirmation, one tag or a selection, counts what deleting takes with it per kind ("Attached to
    200,000 contacts (they stay; the tag comes off them)") in a fixed number of queries whatever the tag's size."""

    form = TagForm
    list_display = ["name", "created_by_name", "created_at"]
    search_fields = ["name"]
    list_select_related = [f"created_by__{PROFILE}"]
    readonly_fields = ["created_by_name", "created_at"]
    fields = ["name", "created_by_name", "created_at"]

    def save_model(self, request: HttpRequest, obj: Tag, form: forms.ModelForm, change: bool) -> None:
        saved = (
            services.tag_rename(tag=Tag.objects.get(pk=obj.pk), name=form.cleaned_data["name"])
            if change
            else services.tag_create(name=form.cleaned_data["name"], actor=request.user)
        )
        obj.pk, obj.name = saved.pk, saved.name  # the form skipped the model's own clean, so obj lags

    def deletion_link_words(self, link: Reference, count: int) -> str:
        return f"Attached to {rows_in_words(link.kind, count)} (they stay; the tag comes off them)"

    def deletion_problems(self, objects: list[Tag]) -> list[str]:
        """A tag a saved segment, an assignment rule or a saved reply names: the page says which and offers no button
        (templates/admin/contacts/tag/)."""
        return list(services.tags_delete_problems(tags=objects).values())

    def delete_model(self, request: HttpRequest, obj: Tag) -> None:
        services.tag_delete(tag=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Tag]) -> None:
        services.tags_delete(tags=list(queryset))


@admin.register(DataAttribute)
class DataAttributeAdmin(CreatedByName, ConcurrentDeletionAdmin):
    form = DataAttributeForm
    exclude = ["created_by"]
    list_display = ["name", "label", "model", "data_type", "archived", "created_by_name"]
    list_select_related = [f"created_by__{PROFILE}"]
    list_filter = ["model", "data_type", "archived"]
    search_fields = ["name", "label"]

    def get_readonly_fields(self, request: HttpRequest, obj: DataAttribute | None = None) -> list[str]:
        # Name and type never change once values may be stored under them.
        return ["name", "model", "data_type", "created_by_name", "created_at"] if obj else []

    def save_model(self, request: HttpRequest, obj: DataAttribute, form: forms.ModelForm, change: bool) -> None:
        if change:
            saved = services.data_attribute_update(
                attribute=DataAttribute.objects.get(pk=obj.pk),
                label=obj.label,
                description=obj.description,
                archived=obj.archived,
                options=obj.options,
            )
        else:
            saved = services.data_attribute_create(
                name=obj.name, data_type=obj.data_type, model=obj.model, label=obj.label,
                description=obj.description, options=obj.options, actor=request.user,
            )  # fmt: skip
        obj.pk = saved.pk

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, Any, list[Any]]:
        """An attribute a saved segment's filter names is "protected": the confirmation page (one or a selection)
        says which segments name it and offers no button (templates/admin/contacts/dataattribute/)."""
        deleted, counts, permissions_needed, protected = super().get_deleted_objects(objs, request)
        in_use = [
            problem for attribute in objs if (problem := services.data_attribute_delete_problem(attribute=attribute))
        ]
        return deleted, counts, permissions_needed, [*protected, *in_use]

    def delete_model(self, request: HttpRequest, obj: DataAttribute) -> None:
        services.data_attribute_delete(attribute=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[DataAttribute]) -> None:
        for attribute in queryset:
            services.data_attribute_delete(attribute=attribute)
