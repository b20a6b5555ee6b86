"""How the retention app plugs into contacts: the contact page's "Retention" panel."""


def connect() -> None:
    from contacts.panels import ContactPanel, register_contact_panel
    from retention.selectors import contact_expiry_get

    # One query (the policy row): when this contact would be deleted by a retention rule.
    register_contact_panel(
        ContactPanel(
            order=90,
            title="Retention",
            template="admin/retention/contact_panel.html",
            rows=lambda contact: contact_expiry_get(contact=contact),
        )
    )
