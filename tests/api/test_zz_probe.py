import json
from tests.factories.workspaces import PASSWORD
async def test_probe(gql, workspaces):
    ws = await workspaces.create()
    u = await ws.user("s", ["sales"])
    body = await gql.raw('mutation{ createTeam(name: "Shadow team"){ id } }', token=u["token"])
    print(json.dumps(body, indent=1))
    body = await gql.raw('{me{id}}', token=u["token"])
    print(json.dumps(body, indent=1))
