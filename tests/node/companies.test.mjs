// The official Intercom Node SDK's companies calls against a live Parley server (see sdk.test.mjs).
import assert from "node:assert/strict";
import { test } from "node:test";
import { IntercomClient } from "intercom-client";

const baseUrl = process.env.PARLEY_API_URL;
const token = process.env.PARLEY_API_TOKEN;
const client = new IntercomClient({ token, baseUrl });
// A company segment (plan = enterprise) that tests/api/test_node_sdk.py saves before the run.
const enterpriseSegmentId = process.env.PARLEY_COMPANY_SEGMENT_ID;

test("companies: create or update twice, find by company_id, update, attach and detach, list, delete", { skip: !baseUrl }, async () => {
  const created = await client.companies.createOrUpdate({ company_id: "node-co", name: "Node Co", plan: "pro", size: 9 });
  assert.equal(created.type, "company");
  assert.equal(created.plan.name, "pro");
  const again = await client.companies.createOrUpdate({ company_id: "node-co", monthly_spend: 120.7 });
  assert.equal(again.id, created.id);
  assert.equal(again.monthly_spend, 120);
  assert.equal(again.name, "Node Co");
  const retrieved = await client.companies.retrieve({ company_id: "node-co" });
  assert.equal(retrieved.id, created.id);
  const updated = await client.companies.update({ company_id: created.id, body: { industry: "Tools" } });
  assert.equal(updated.industry, "Tools");
  const contact = await client.contacts.create({ email: "node-member@example.com" });
  const attached = await client.companies.attachContact({ contact_id: contact.id, id: created.id });
  assert.equal(attached.user_count, 1);
  const members = await client.companies.listAttachedContacts({ company_id: created.id });
  assert.deepEqual(members.data.map((c) => c.id), [contact.id]);
  const mine = [];
  for await (const company of await client.contacts.listAttachedCompanies({ contact_id: contact.id })) mine.push(company.id);
  assert.deepEqual(mine, [created.id]);
  const detached = await client.companies.detachContact({ contact_id: contact.id, company_id: created.id });
  assert.equal(detached.user_count, 0);
  for (const n of [1, 2, 3]) await client.companies.createOrUpdate({ company_id: `node-co-${n}` });
  const listed = [];
  for await (const company of await client.companies.list({ per_page: 2 })) listed.push(company.company_id);
  assert.deepEqual([...listed].sort(), ["node-co", "node-co-1", "node-co-2", "node-co-3"]);
  const scrolled = [];
  for await (const company of await client.companies.scroll()) scrolled.push(company.company_id);
  assert.equal(scrolled.length, 4);
  const deleted = await client.companies.delete({ company_id: created.id });
  assert.equal(deleted.deleted, true);
});

test("company segments: listed with both kinds, a company's segments, the companies in one", { skip: !baseUrl }, async () => {
  const big = await client.companies.createOrUpdate({ company_id: "node-enterprise", name: "Node Big", plan: "enterprise" });
  const small = await client.companies.createOrUpdate({ company_id: "node-small", plan: "starter" });
  const segments = await client.segments.list({ include_count: true });
  const enterprise = segments.segments.find((segment) => segment.id === enterpriseSegmentId);
  assert.equal(enterprise.person_type, "company");
  const found = await client.segments.find({ segment_id: enterpriseSegmentId });
  assert.equal(found.name, "Enterprise");
  const attached = await client.companies.listAttachedSegments({ company_id: big.id });
  assert.deepEqual(attached.data.map((segment) => segment.id), [enterpriseSegmentId]);
  assert.deepEqual((await client.companies.listAttachedSegments({ company_id: small.id })).data, []);
  const members = await client.companies.retrieve({ segment_id: enterpriseSegmentId });
  assert.deepEqual(members.data.map((company) => company.id), [big.id]);
  await assert.rejects(
    client.companies.retrieve({ segment_id: "424242" }),
    (error) => error.statusCode === 404 && error.body.errors[0].field === "segment_id",
  );
});
