"""common.row_locks.rows_hold: the rows a write is about to name, held until its transaction ends."""

import pytest

from common.row_locks import rows_hold
from contacts.models import Contact
from tests.contacts.factories import LeadFactory

pytestmark = pytest.mark.django_db


def test_it_answers_the_ids_that_exist_whatever_form_they_were_given_in():
    """Ids from a form or a JSON body come as text, from a queryset as numbers; a mix once raised TypeError (sorting
    "2" against 1), a 500."""
    lead, gone = LeadFactory(), LeadFactory()
    gone_pk = gone.pk
    gone.delete()
    assert rows_hold(Contact, [lead.pk, str(lead.pk), gone_pk]) == {lead.pk}
    assert rows_hold(Contact, []) == set()
