// A typed client of the CRM API: every operation's variables and result are typed from the SDL by graphql-codegen
// (src/generated/graphql.ts, made by `npm run codegen`), so a field the API renames or removes fails `tsc`.
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";
import { ContactsDocument, LoginDocument, type ContactsQuery } from "./generated/graphql";

export class CrmError extends Error {
  constructor(public readonly code: string, message: string) {
    super(`${code}: ${message}`);
  }
}

type GraphQLError = { message: string; extensions?: { code?: string } };

export async function request<Result, Variables>(
  url: string,
  document: TypedDocumentNode<Result, Variables>,
  variables: Variables,
  token?: string,
): Promise<Result> {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    Accept: "application/graphql-response+json, application/json",
  };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers,
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: Result; errors?: GraphQLError[] };
  if (body.errors?.length) {
    const first = body.errors[0];
    throw new CrmError(first.extensions?.code ?? "UNKNOWN", first.message);
  }
  return body.data as Result;
}

export async function login(url: string, workspace: string, email: string, password: string, otp?: string) {
  const data = await request(url, LoginDocument, { workspace, email, password, otp: otp ?? null });
  return data.login; // { token, refreshToken, expiresAt }
}

// A node is null when a field it must carry is denied to the caller (the API nulls the node, not the page).
type Contact = NonNullable<ContactsQuery["contacts"]["edges"][number]["node"]>;

export async function* contacts(url: string, token: string, first = 100): AsyncGenerator<Contact> {
  let after: string | null = null;
  for (;;) {
    const page: ContactsQuery = await request(url, ContactsDocument, { first, after }, token);
    for (const edge of page.contacts.edges) if (edge.node) yield edge.node;
    if (!page.contacts.pageInfo.hasNextPage) return;
    after = page.contacts.pageInfo.endCursor;
  }
}

// An example run against `make run`'s demo workspace.
export async function main(url = "http://127.0.0.1:8000"): Promise<void> {
  const session = await login(url, "demo", "admin@demo.example.com", "demo-password-2026");
  for await (const contact of contacts(url, session.token)) {
    console.log(contact.id, contact.firstName, contact.lastName, contact.email ?? "-", contact.stage);
  }
}
