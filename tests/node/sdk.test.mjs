// The official Intercom Node SDK against a live Parley server.
// tests/api/test_node_sdk.py starts the server and sets PARLEY_API_URL and PARLEY_API_TOKEN.
import assert from "node:assert/strict";
import { test } from "node:test";
import { IntercomClient } from "intercom-client";

const baseUrl = process.env.PARLEY_API_URL;
const token = process.env.PARLEY_API_TOKEN;
const adminId = process.env.PARLEY_ADMIN_ID;
const client = new IntercomClient({ token, baseUrl });

test("contacts: create, find, update, search, list, delete", { skip: !baseUrl }, async () => {
  const created = await client.contacts.create({ email: "node@example.com", external_id: "node-1", name: "Node" });
  assert.equal(created.type, "contact");
  assert.equal(created.role, "user");
  const found = await client.contacts.find({ contact_id: created.id });
  assert.equal(found.external_id, "node-1");
  const updated = await client.contacts.update({ contact_id: created.id, name: "Node Renamed" });
  assert.equal(updated.name, "Node Renamed");
  const results = [];
  const page = await client.contacts.search({
    query: { operator: "AND", value: [{ field: "email", operator: "=", value: "node@example.com" }] },
    pagination: { per_page: 10 },
  });
  for await (const contact of page) results.push(contact.id);
  assert.deepEqual(results, [created.id]);
  const listed = [];
  for await (const contact of await client.contacts.list({ per_page: 2 })) listed.push(contact.id);
  assert.ok(listed.includes(created.id));
  const deleted = await client.contacts.delete({ contact_id: created.id });
  assert.equal(deleted.deleted, true);
});

test("tags: create, tag and untag a contact", { skip: !baseUrl }, async () => {
  const tag = await client.tags.create({ name: "node-tag" });
  const contact = await client.contacts.create({ email: "tagged@example.com" });
  const attached = await client.tags.tagContact({ contact_id: contact.id, id: tag.id });
  assert.equal(attached.name, "node-tag");
  const tags = await client.contacts.listAttachedTags({ contact_id: contact.id });
  assert.deepEqual(tags.data.map((t) => t.id), [tag.id]);
  await client.tags.untagContact({ contact_id: contact.id, tag_id: tag.id });
  const list = await client.tags.list();
  assert.ok(list.data.some((t) => t.name === "node-tag"));
});

test("events: track and summarise", { skip: !baseUrl }, async () => {
  await client.contacts.create({ email: "events@example.com", external_id: "node-events" });
  await client.events.create({ event_name: "node-ordered", user_id: "node-events", metadata: { items: 2 } });
  await client.events.create({ event_name: "node-ordered", email: "events@example.com" });
  const summary = await client.events.list({ type: "user", user_id: "node-events", summary: true });
  assert.equal(summary.events[0].name, "node-ordered");
  assert.equal(summary.events[0].count, 2);
});

test("a conversation: create, reply, note, close", { skip: !baseUrl }, async () => {
  const contact = await client.contacts.create({ email: "talker@example.com" });
  const message = await client.conversations.create({ from: { type: "user", id: contact.id }, body: "Hello from Node" });
  const conversationId = message.conversation_id;
  await client.conversations.reply({
    conversation_id: conversationId,
    body: { message_type: "comment", type: "admin", admin_id: adminId, body: "Hi!" },
  });
  await client.conversations.reply({
    conversation_id: conversationId,
    body: { message_type: "comment", type: "user", intercom_user_id: contact.id, body: "Thanks" },
  });
  const closed = await client.conversations.manage({
    conversation_id: conversationId,
    body: { message_type: "close", type: "admin", admin_id: adminId },
  });
  assert.equal(closed.state, "closed");
  const conversation = await client.conversations.find({ conversation_id: conversationId });
  assert.deepEqual(
    conversation.conversation_parts.conversation_parts.map((p) => p.part_type),
    ["comment", "comment", "comment", "close"],
  );
});

test("messages: in-app and email from an admin to a contact", { skip: !baseUrl }, async () => {
  const contact = await client.contacts.create({ email: "outbound@example.com", external_id: "node-out" });
  const inApp = await client.messages.create({
    message_type: "inapp",
    body: "Welcome from Node",
    from: { type: "admin", id: Number(adminId) },
    to: { type: "user", id: contact.id },
  });
  assert.equal(inApp.type, "admin_message");
  assert.equal(inApp.message_type, "inapp");
  const email = await client.messages.create({
    message_type: "email",
    subject: "Node news",
    body: "See https://shop.example/news",
    template: "plain",
    from: { type: "admin", id: Number(adminId) },
    to: { type: "user", id: contact.id },
  });
  assert.equal(email.subject, "Node news");
  assert.notEqual(email.id, inApp.id);
  assert.equal(inApp.conversation_id, null);
  const opened = await client.messages.create({
    message_type: "inapp",
    body: "Your export is ready",
    from: { type: "admin", id: Number(adminId) },
    to: { type: "user", id: contact.id },
    create_conversation_without_contact_reply: true,
  });
  assert.ok(opened.conversation_id);
  const conversation = await client.conversations.find({ conversation_id: opened.conversation_id });
  assert.equal(conversation.state, "open");
  assert.equal(conversation.source.delivered_as, "admin_initiated");
  await assert.rejects(
    client.messages.create({
      message_type: "inapp",
      body: "Hi",
      from: { type: "admin", id: Number(adminId) },
      to: { type: "user", id: contact.id },
      create_conversation_without_contact_reply: "yes",
    }),
    (error) => error.statusCode === 400 && error.body.errors[0].field === "create_conversation_without_contact_reply",
  );
  await assert.rejects(
    client.messages.create({
      message_type: "email",
      body: "No subject",
      from: { type: "admin", id: Number(adminId) },
      to: { type: "user", id: contact.id },
    }),
    (error) => error.statusCode === 400 && error.body.errors[0].field === "subject",
  );
});

test("teams, segments and a conversation's title", { skip: !baseUrl }, async () => {
  const teams = await client.teams.list();
  assert.equal(teams.type, "team.list");
  const segments = await client.segments.list({ include_count: true });
  assert.equal(segments.type, "segment.list");
  const contact = await client.contacts.create({ email: "titled@example.com" });
  const attached = await client.contacts.listAttachedSegments({ contact_id: contact.id });
  assert.deepEqual(attached.data, []);
  const message = await client.conversations.create({ from: { type: "user", id: contact.id }, body: "Refund?" });
  const updated = await client.conversations.update({
    conversation_id: message.conversation_id,
    display_as: "plaintext",
    read: true,
    title: "Refund request",
  });
  assert.equal(updated.title, "Refund request");
  assert.equal(updated.read, true);
  assert.equal(updated.source.body, "Refund?");
});

test("companies: create or update twice, attach, list members, detach", { skip: !baseUrl }, async () => {
  const created = await client.companies.createOrUpdate({ company_id: "node-co", name: "Node Co", plan: "pro" });
  const again = await client.companies.createOrUpdate({ company_id: "node-co", name: "Node Company" });
  assert.equal(again.id, created.id);
  assert.equal(again.name, "Node Company");
  const contact = await client.contacts.create({ email: "member@node-co.example" });
  const attached = await client.companies.attachContact({ contact_id: contact.id, id: created.id });
  assert.equal(attached.id, created.id);
  const members = await client.companies.listAttachedContacts({ company_id: created.id });
  assert.deepEqual(members.data.map((c) => c.id), [contact.id]);
  const found = await client.companies.find({ company_id: created.id });
  assert.equal(found.company_id, "node-co");
  await client.companies.detachContact({ contact_id: contact.id, company_id: created.id });
  const after = await client.companies.listAttachedContacts({ company_id: created.id });
  assert.deepEqual(after.data, []);
});

test("errors carry Intercom's envelope and status", { skip: !baseUrl }, async () => {
  const anonymous = new IntercomClient({ token: "wrong", baseUrl });
  await assert.rejects(anonymous.contacts.find({ contact_id: "1" }), (error) => {
    assert.equal(error.statusCode, 401);
    assert.equal(error.body.errors[0].code, "unauthorized");
    return true;
  });
});
