"""A first story: an admin signs in, creates a contact and reads it back."""

from __future__ import annotations

from tests.factories.workspaces import GraphQLClient, WorkspaceFactory


async def test_admin_creates_and_reads_a_contact(workspaces: WorkspaceFactory, gql: GraphQLClient) -> None:
    ws = await workspaces.create()
    cid = await ws.contact(
        firstName="Chan",
        lastName="Tai Man",
        email="chan@example.com",
        phone="9123 4567",
        hkid="A123456(3)",
        salary=45000,
        dateOfBirth="1985-03-02",
    )
    data = await gql.ok(
        "query($id:ID!){contact(id:$id){id firstName email phone hkid salary dateOfBirth stage}}",
        {"id": cid},
        ws.admin_token,
    )
    assert data["contact"] == {
        "id": cid,
        "firstName": "Chan",
        "email": "chan@example.com",
        "phone": "+85291234567",
        "hkid": "A123456(3)",
        "salary": 45000,
        "dateOfBirth": "1985-03-02",
        "stage": "LEAD",
    }
