"""The project's own checks of template.yaml: what cfn-lint and
`sam validate --lint` do not catch (a wrong Runtime or Architectures, a
CodeUri or DefinitionUri pointing nowhere, a misspelled key inside an
HttpApi event, an ASL task naming a function the template lacks), plus
the promises the README makes about the stack (among them: only the Submit
function may read the Maskinporten key, and only when a receiver is set;
every file under uploads/ starts its import through the imports queue; the
gateway's CORS answers are the local server's; every API function reads the
claims the authorizer's issuer puts organisations and the admin role in; the
optional Cognito user pool exists only when asked for, and is then the
authorizer's issuer).

    .venv/bin/python scripts/check_template.py [template.yaml]

Prints one line per check and `N passed, M failed`; exits 1 on any failure.
"""

import json
import re
import sys
import tomllib
from pathlib import Path

from cfnlint.decode import decode  # the YAML loader that understands !Ref, !Sub...

ROOT = Path(__file__).resolve().parent.parent
BASE = "/api/v1/bufdir-exports"
IMPORTS = "/api/v1/activity-imports"
ACTIVITIES = "/api/v1/activities"
ORGANISATIONS = "/api/v1/organisations"
WEBHOOKS = "/api/v1/webhook-endpoints"
# Every route of the API (see shared/core/src/http/endpoints.rs) and the function serving each.
ROUTES = {
    ("GET", BASE): "api-list",
    ("POST", BASE): "api-create",
    ("GET", BASE + "/{export_id}"): "api-get",
    ("GET", BASE + "/{export_id}/file"): "api-file",
    ("DELETE", BASE + "/{export_id}"): "api-delete",
    ("PUT", BASE + "/{export_id}/cancel"): "api-cancel",
    ("POST", BASE + "/{export_id}/retry"): "api-retry",
    ("POST", IMPORTS): "api-imports-create",
    ("GET", IMPORTS): "api-imports-list",
    ("GET", IMPORTS + "/{import_id}"): "api-imports-get",
    ("GET", IMPORTS + "/templates/{name}"): "api-imports-template",
    ("PUT", ACTIVITIES): "api-activities-put",
    ("GET", ACTIVITIES): "api-activities-list",
    ("DELETE", ACTIVITIES + "/{activity_id}"): "api-activities-delete",
    ("GET", ORGANISATIONS + "/{org_id}"): "api-organisations-get",
    ("PUT", ORGANISATIONS + "/{org_id}"): "api-organisations-put",
    ("DELETE", ORGANISATIONS + "/{org_id}/data"): "api-organisations-erase",
    ("POST", "/api/v1/attachments"): "api-attachments-create",
    ("POST", WEBHOOKS): "api-webhooks-create",
    ("GET", WEBHOOKS): "api-webhooks-list",
    ("GET", WEBHOOKS + "/{endpoint_id}"): "api-webhooks-get",
    ("PATCH", WEBHOOKS + "/{endpoint_id}"): "api-webhooks-update",
    ("DELETE", WEBHOOKS + "/{endpoint_id}"): "api-webhooks-delete",
    ("POST", WEBHOOKS + "/{endpoint_id}/rotate-secret"): "api-webhooks-rotate",
    ("GET", WEBHOOKS + "/{endpoint_id}/deliveries"): "api-webhooks-deliveries",
}
# The console's files, served without the authorizer by one function
# (shared/aws/src/console.rs); every other route requires a token.
CONSOLE_ROUTES = {("GET", "/"): "console", ("GET", "/console/{file}"): "console"}
# Routes deployed before the router serves them (until then their function
# answers 404 like any unknown path). Once the router has one, the check
# below fails until it is taken off this list.
ROUTES_AHEAD_OF_CODE = set()
WORKFLOW_FUNCTIONS = {"generate", "submit", "complete", "mark-failed"}
HTTPAPI_EVENT_KEYS = {"ApiId", "Method", "Path", "Auth", "PayloadFormatVersion", "RouteSettings", "TimeoutInMillis"}
# What shared/aws/src/config.rs requires (checked against it below).
REQUIRED_ENV = {"EXPORTS_TABLE", "ACTIVITIES_TABLE", "IMPORTS_TABLE", "WEBHOOKS_TABLE", "AUDIT_TABLE", "FILES_BUCKET",
                "EVENTS_QUEUE_URL"}
# The import function's crate, and the prefix its files arrive under.
IMPORT_CRATE = "import"
UPLOADS_PREFIX = "uploads/"
# Who hands out attachment upload links, and who claims the uploads (the
# activities they write name them).
ATTACHMENT_LINKS = "api-attachments-create"
ATTACHMENT_CLAIMERS = {"api-activities-put", IMPORT_CRATE}
# Who erases an organisation: it lists and removes both, and nothing else.
ERASER = "api-organisations-erase"
# Who moves claimed files no activity names back among the uploads.
RELEASER = "attachments-sweep"
# The local server's CORS (the API's answers must be the same on AWS).
CORS_RS = "shared/core/src/http/cors.rs"
# What a browser app does with the files bucket's presigned links: POST (or
# PUT) an upload, GET a download.
BUCKET_CORS_METHODS = {"GET", "PUT", "POST"}
# The claim rules' parameters, the environment each fills, and what each
# becomes with the stack's own Cognito user pool (None: from the pool's
# resources, checked below).
CLAIM_PARAMETERS = {"ORG_CLAIMS": "OrgClaims", "ADMIN_CLAIM": "AdminClaim", "ADMIN_CLAIM_VALUE": "AdminClaimValue"}
COGNITO_ADMIN_CLAIM = "cognito:groups"
COGNITO_ORG_ATTRIBUTE = "org_id"

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {what}")
    else:
        failed += 1
        print(f"FAIL {what}")


def ref(value):
    """The logical id a {"Ref": X} or {"Fn::GetAtt": [X, ...]} names."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else att.split(".")[0]
    return None


def rust_consts(*paths):
    """`pub const NAME: &str = "value";` of the given Rust files."""
    consts = {}
    for path in paths:
        consts.update(re.findall(r'pub const (\w+): &str = "([^"]*)";', (ROOT / path).read_text()))
    return consts


def rust_cors():
    """The CORS constants of cors.rs, resolved: header names (string
    literals or &str consts of the http module), methods (Method::GET) and
    the max age in seconds. A value the parser cannot read is None."""
    http = ROOT / "shared/core/src/http"
    consts = rust_consts(*(p.relative_to(ROOT) for p in http.glob("*.rs")))
    source = (ROOT / CORS_RS).read_text()

    def array(name):
        m = re.search(rf"pub const {name}: \[[^\]]+\]\s*=\s*\[(.*?)\];", source, re.S)
        if not m:
            return None
        values = []
        for item in (i.strip() for i in m.group(1).split(",")):
            if not item:
                continue
            if re.fullmatch(r'"[^"]*"', item):
                values.append(item[1:-1])
            elif re.fullmatch(r"Method::[A-Z]+", item):
                values.append(item.split("::")[1])
            elif item in consts:
                values.append(consts[item])
            else:
                return None
        return values

    age = re.search(r"pub const CORS_MAX_AGE: Duration = Duration::from_secs\((\d+)\);", source)
    return {
        "AllowHeaders": array("CORS_ALLOW_HEADERS"),
        "ExposeHeaders": array("CORS_EXPOSE_HEADERS"),
        "AllowMethods": array("CORS_METHODS"),
        "MaxAge": int(age.group(1)) if age else None,
    }


def rust_claim_defaults():
    """ClaimRules::default() of claim_rules.rs: the names our own tokens use."""
    source = (ROOT / "shared/core/src/http/claim_rules.rs").read_text()
    body = source[source.index("impl Default for ClaimRules"):]
    body = body[:body.index("\n}\n")]
    orgs = re.search(r"org_claims: vec!\[(.*?)\],", body, re.S)
    admin = re.search(r'admin_claim: ClaimPath\("([^"]*)"\.into\(\)\)', body)
    value = re.search(r'admin_value: "([^"]*)"\.into\(\)', body)
    return {
        "ORG_CLAIMS": ",".join(re.findall(r'ClaimPath\("([^"]*)"\.into\(\)\)', orgs.group(1))) if orgs else None,
        "ADMIN_CLAIM": admin.group(1) if admin else None,
        "ADMIN_CLAIM_VALUE": value.group(1) if value else None,
    }


def if_parts(value):
    """(condition, then, else) of an Fn::If, or None."""
    if isinstance(value, dict) and list(value) == ["Fn::If"] and isinstance(value["Fn::If"], list) and len(value["Fn::If"]) == 3:
        return tuple(value["Fn::If"])
    return None


NO_VALUE = {"Ref": "AWS::NoValue"}


def implies(conditions, name, base):
    """Whether Condition `name` holds only when `base` does (it is `base`,
    or an Fn::And with {"Condition": base} among its terms)."""
    if name == base:
        return True
    definition = conditions.get(name)
    return isinstance(definition, dict) and {"Condition": base} in definition.get("Fn::And", [])


def check_cors(template, api_name, api, buckets):
    """With CorsAllowedOrigins set, API Gateway answers preflights with the
    local server's headers, methods and max age (cors.rs), and the files
    bucket lets the same origins upload to and download from its presigned
    links; with it empty, neither has any CORS configuration."""
    param = template.get("Parameters", {}).get("CorsAllowedOrigins", {})
    check(param.get("Type") == "CommaDelimitedList" and param.get("Default") == "",
          "CorsAllowedOrigins is a list, empty by default (no CORS)")
    check(template.get("Conditions", {}).get("HasCors")
          == {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "CorsAllowedOrigins"}]}, ""]}]},
          "HasCors holds when CorsAllowedOrigins is not empty")
    want = rust_cors()
    check(all(v is not None for v in want.values()), f"{CORS_RS}: the CORS constants are readable ({want})")

    parts = if_parts(api.get("CorsConfiguration"))
    check(parts is not None and parts[0] == "HasCors" and parts[2] == NO_VALUE,
          f"{api_name}: CorsConfiguration only with HasCors (none otherwise)")
    config = parts[1] if parts and isinstance(parts[1], dict) else {}
    check(config.get("AllowOrigins") == {"Ref": "CorsAllowedOrigins"}, f"{api_name}: CORS origins are CorsAllowedOrigins")
    for key in ["AllowHeaders", "ExposeHeaders"]:
        got = [h.lower() for h in config.get(key, []) if isinstance(h, str)]
        expected = [h.lower() for h in want[key] or []]
        check(sorted(got) == sorted(expected) and len(set(got)) == len(got),
              f"{api_name}: CORS {key} are cors.rs's exactly ({sorted(set(got) ^ set(expected))})")
    got = [m.upper() for m in config.get("AllowMethods", []) if isinstance(m, str)]
    check(sorted(got) == sorted(want["AllowMethods"] or []) and len(set(got)) == len(got),
          f"{api_name}: CORS AllowMethods are cors.rs's exactly ({sorted(set(got) ^ set(want['AllowMethods'] or []))})")
    check(config.get("MaxAge") == want["MaxAge"], f"{api_name}: CORS MaxAge {config.get('MaxAge')} is cors.rs's {want['MaxAge']}")
    check(not config.get("AllowCredentials"), f"{api_name}: no CORS credentials (bearer tokens, not cookies)")

    for bucket_name, b in buckets.items():
        parts = if_parts(b.get("CorsConfiguration"))
        check(parts is not None and parts[0] == "HasCors" and parts[2] == NO_VALUE,
              f"{bucket_name}: CorsConfiguration only with HasCors (none otherwise)")
        rules = parts[1].get("CorsRules", []) if parts and isinstance(parts[1], dict) else []
        check(len(rules) == 1, f"{bucket_name}: one CORS rule")
        for rule in rules:
            check(rule.get("AllowedOrigins") == {"Ref": "CorsAllowedOrigins"}, f"{bucket_name}: CORS origins are CorsAllowedOrigins")
            methods = set(rule.get("AllowedMethods", []))
            check(methods == BUCKET_CORS_METHODS, f"{bucket_name}: CORS methods {sorted(BUCKET_CORS_METHODS)} ({sorted(methods ^ BUCKET_CORS_METHODS)})")
            check("content-type" in [h.lower() for h in rule.get("AllowedHeaders", [])],
                  f"{bucket_name}: a presigned PUT's preflight may ask for content-type")
            check("etag" in [h.lower() for h in rule.get("ExposedHeaders", [])], f"{bucket_name}: the app may read an upload's ETag")
            check(rule.get("MaxAge") == want["MaxAge"], f"{bucket_name}: CORS MaxAge is cors.rs's {want['MaxAge']}")


def check_claims(template, resources, functions, fn_globals):
    """Every API function reads the claim rules (ORG_CLAIMS, ADMIN_CLAIM,
    ADMIN_CLAIM_VALUE) from the parameters, whose defaults are our own
    tokens' names (ClaimRules::default()); with the stack's Cognito pool a
    parameter left at its default becomes Cognito's name."""
    config_consts = rust_consts("shared/aws/src/config.rs")
    check(all(config_consts.get(name) == name for name in CLAIM_PARAMETERS),
          f"config.rs reads {sorted(CLAIM_PARAMETERS)}")
    defaults = rust_claim_defaults()
    params = template.get("Parameters", {})
    conditions = template.get("Conditions", {})
    pools = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Cognito::UserPool"]
    groups = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Cognito::UserPoolGroup"]
    org_attrs = [a["Name"] for p in pools for a in p.get("Schema", []) if a.get("Name") == COGNITO_ORG_ATTRIBUTE]
    cognito = {
        "ORG_CLAIMS": f"custom:{org_attrs[0]}" if org_attrs else None,
        "ADMIN_CLAIM": COGNITO_ADMIN_CLAIM,
        "ADMIN_CLAIM_VALUE": groups[0].get("GroupName") if len(groups) == 1 else None,
    }
    for env_name, param_name in CLAIM_PARAMETERS.items():
        param = params.get(param_name, {})
        check(param.get("Type") == "String" and param.get("Default") == defaults[env_name] is not None,
              f"{param_name} defaults to ClaimRules::default()'s {defaults[env_name]!r}")
    for name, fn in functions.items():
        props = fn["Properties"]
        if not any(e["Type"] == "HttpApi" for e in props.get("Events", {}).values()):
            continue
        variables = dict(fn_globals.get("Environment", {}).get("Variables", {}))
        variables.update(props.get("Environment", {}).get("Variables", {}))
        for env_name, param_name in CLAIM_PARAMETERS.items():
            parts = if_parts(variables.get(env_name))
            ok = parts is not None and parts[2] == {"Ref": param_name}
            condition = parts[0] if ok else None
            ok = ok and implies(conditions, condition, "HasUserPool") and {"Fn::Equals": [{"Ref": param_name}, defaults[env_name]]} in conditions.get(condition, {}).get("Fn::And", [])
            ok = ok and parts[1] == cognito[env_name] is not None
            check(ok, f"{name}: {env_name} is {param_name}, or with the user pool and {param_name} at its default, {cognito[env_name]!r}")


def check_cognito(template, resources, api_name, api):
    """The Cognito user pool, its group, app client and hosted UI exist only
    with CreateUserPool; then the API's JWT authorizer trusts that pool's
    ID tokens for that client, and otherwise JwtIssuer/JwtAudience."""
    params = template.get("Parameters", {})
    conditions = template.get("Conditions", {})
    create = params.get("CreateUserPool", {})
    check(create.get("Default") == "false" and set(create.get("AllowedValues", [])) == {"true", "false"},
          "CreateUserPool is true or false, false by default")
    check(conditions.get("HasUserPool") == {"Fn::Equals": [{"Ref": "CreateUserPool"}, "true"]},
          "HasUserPool holds when CreateUserPool is true")
    cognito = {k: v for k, v in resources.items() if v["Type"].startswith("AWS::Cognito::")}
    for name, r in cognito.items():
        check(implies(conditions, r.get("Condition"), "HasUserPool"), f"{name}: only with the user pool (Condition {r.get('Condition')})")
    by_type = {}
    for name, r in cognito.items():
        by_type.setdefault(r["Type"], []).append(name)
    for kind in ["UserPool", "UserPoolGroup", "UserPoolClient", "UserPoolDomain"]:
        check(len(by_type.get(f"AWS::Cognito::{kind}", [])) == 1, f"one AWS::Cognito::{kind}")
    if any(len(by_type.get(f"AWS::Cognito::{k}", [])) != 1 for k in ["UserPool", "UserPoolClient"]):
        return
    pool_name = by_type["AWS::Cognito::UserPool"][0]
    client_name = by_type["AWS::Cognito::UserPoolClient"][0]
    pool = cognito[pool_name]["Properties"]
    client = cognito[client_name]["Properties"]
    attrs = [a for a in pool.get("Schema", []) if a.get("Name") == COGNITO_ORG_ATTRIBUTE]
    check(len(attrs) == 1 and attrs[0].get("AttributeDataType") == "String" and attrs[0].get("Mutable") is True,
          f"{pool_name}: a mutable custom string attribute {COGNITO_ORG_ATTRIBUTE}")
    for name in by_type.get("AWS::Cognito::UserPoolGroup", []) + by_type.get("AWS::Cognito::UserPoolDomain", []) + [client_name]:
        check(ref(cognito[name]["Properties"].get("UserPoolId")) == pool_name, f"{name}: of {pool_name}")
    check(client.get("GenerateSecret") is False, f"{client_name}: a public client (no secret; the app uses PKCE)")
    check(client.get("AllowedOAuthFlowsUserPoolClient") is True and client.get("AllowedOAuthFlows") == ["code"],
          f"{client_name}: the authorization code flow only")
    check("openid" in client.get("AllowedOAuthScopes", []), f"{client_name}: the openid scope (an ID token)")
    check(client.get("SupportedIdentityProviders") == ["COGNITO"], f"{client_name}: the pool's own users")
    writable = client.get("WriteAttributes")
    check(isinstance(writable, list) and f"custom:{COGNITO_ORG_ATTRIBUTE}" not in writable,
          f"{client_name}: users cannot write their own custom:{COGNITO_ORG_ATTRIBUTE} ({writable})")

    auth = api.get("Auth", {})
    jwt = auth.get("Authorizers", {}).get(auth.get("DefaultAuthorizer"), {}).get("JwtConfiguration", {})
    issuer, audience = if_parts(jwt.get("issuer")), if_parts(jwt.get("audience"))
    check(issuer == ("HasUserPool", {"Fn::Sub": f"https://cognito-idp.${{AWS::Region}}.amazonaws.com/${{{pool_name}}}"}, {"Ref": "JwtIssuer"}),
          f"{api_name}: the JWT issuer is {pool_name} with the user pool, else JwtIssuer")
    check(audience == ("HasUserPool", [{"Ref": client_name}], {"Ref": "JwtAudience"}),
          f"{api_name}: the JWT audience is {client_name}'s id with the user pool, else JwtAudience")
    rules = template.get("Rules", {}).values()
    check(any(r.get("RuleCondition") == {"Fn::Equals": [{"Ref": "CreateUserPool"}, "false"]}
              and {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]} in [a.get("Assert") for a in r.get("Assertions", [])]
              for r in rules), "a Rule requires JwtIssuer without the user pool")

    outputs = template.get("Outputs", {})
    cognito_outputs = {k: v for k, v in outputs.items() if any(n in json.dumps(v.get("Value")) for n in cognito)}
    for name, output in cognito_outputs.items():
        check(implies(conditions, output.get("Condition"), "HasUserPool"), f"Outputs {name}: only with the user pool")
    named = {ref(v.get("Value")) for v in cognito_outputs.values()}
    check({pool_name, client_name} <= named, f"Outputs name {pool_name} and {client_name}")
    check(any("amazoncognito.com" in sub_text(v.get("Value")) for v in cognito_outputs.values()), "Outputs name the hosted UI")


def router_routes():
    """{endpoint function: (METHOD, path)} of shared/core/src/http/endpoints.rs,
    where each API operation has a router of its own."""
    http = ROOT / "shared/core/src/http"
    consts = rust_consts(*(p.relative_to(ROOT) for p in http.glob("*.rs")))
    source = (http / "endpoints.rs").read_text()
    # Path helpers: `fn export(tail: &str) -> String { format!("{BASE_PATH}/{{export_id}}{tail}") }`.
    helpers = dict(re.findall(r'fn (\w+)\(tail: &str\) -> String \{\s*format!\("([^"]*)\{tail\}"\)', source))

    def resolve(template):
        path = re.sub(r"(?<!\{)\{(\w+)\}(?!\})", lambda m: consts[m.group(1)], template)
        return path.replace("{{", "{").replace("}}", "}")

    endpoints = {}
    for name, body in re.findall(r"pub fn (\w+)\(\) -> Endpoint \{(.*?)\n\}", source, re.S):
        route = re.search(r"\.route\((.*?), (get|post|put|delete|patch)\(", body, re.S)
        check(route is not None, f"endpoints::{name} has one readable route")
        if not route:
            continue
        first, method = route.group(1).strip(), route.group(2).upper()
        if m := re.fullmatch(r'&format!\("([^"]*)"\)', first):
            path = resolve(m.group(1))
        elif m := re.fullmatch(r'&(\w+)\("([^"]*)"\)', first):
            path = resolve(helpers[m.group(1)] + m.group(2))
        else:
            path = consts.get(first, first)
        endpoints[name] = (method, path)
    return endpoints


def function_endpoint(crate):
    """The endpoint function a Lambda's main builds: `endpoints::NAME()`."""
    main = (ROOT / "functions" / crate / "src/main.rs").read_text()
    found = re.findall(r"endpoints::(\w+)\(\)", main)
    return found[0] if len(found) == 1 else None


def sub_text(value):
    """The text of a plain string or of an Fn::Sub, for prefix checks."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        value = value["Fn::Sub"]
        return value[0] if isinstance(value, list) else value
    return value if isinstance(value, str) else json.dumps(value)


def policy_statements(props):
    """Each (statement, condition) of a function's inline policies; condition
    is the Condition name when the policy sits in an Fn::If, else None."""
    for policy in props.get("Policies", []):
        if not isinstance(policy, dict):
            continue
        if "Fn::If" in policy:
            condition, *branches = policy["Fn::If"]
            for branch in branches:
                if isinstance(branch, dict):
                    for statement in branch.get("Statement", []):
                        yield statement, condition
        for statement in policy.get("Statement", []):
            yield statement, None


def actions_of(statement):
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def check_attachments(functions, env, buckets):
    """Only Generate reads the attachment files, only under their prefix, and
    only reads them; the sweep moves those no activity names back among the
    uploads (read, copy, remove), and does nothing else. Uploads through the API wait in their own prefix (outside
    the attachments', so no claimed file can expire with them): one function
    hands out the links there, the writers of activities claim the uploads
    (copy to the attachments' prefix, remove the upload), nobody else
    touches either, and the lifecycle rule removes unclaimed uploads when
    the service says it does."""
    prefix = env.get("ATTACHMENTS_PREFIX")
    check(isinstance(prefix, str) and prefix.endswith("/"), "every function knows ATTACHMENTS_PREFIX")
    waiting = rust_consts("shared/aws/src/config.rs").get("ATTACHMENT_UPLOADS_PREFIX")
    check(isinstance(waiting, str) and waiting.endswith("/"), f"config.rs names where attachment uploads wait ({waiting})")
    if not (isinstance(prefix, str) and isinstance(waiting, str)):
        return
    check(not waiting.startswith(prefix), f"the waiting uploads ({waiting}) are outside the attachments ({prefix})")

    def grants_on(props, p):
        return {(tuple(actions_of(s)), sub_text(s.get("Resource"))) for s, _ in policy_statements(props)
                if f"/{p}" in json.dumps(s.get("Resource"))} | {
                (tuple(actions_of(s)), "prefix") for s, _ in policy_statements(props)
                if p in json.dumps(s.get("Condition", {}))}

    for name, fn in functions.items():
        props = fn["Properties"]
        crate = Path(props.get("CodeUri", "")).name
        files, uploads = grants_on(props, prefix), grants_on(props, waiting)
        if name == "GenerateFunction":
            check(files == {(("s3:GetObject",), f"${{FilesBucket.Arn}}/{prefix}*")} and not uploads,
                  f"{name}: s3:GetObject on the attachments prefix and nothing more")
        elif crate == ATTACHMENT_LINKS:
            check(not files and uploads == {(("s3:PutObject",), f"${{FilesBucket.Arn}}/{waiting}*")},
                  f"{name}: s3:PutObject on {waiting} (its upload links) and nothing more")
        elif crate in ATTACHMENT_CLAIMERS:
            check(files == {(("s3:PutObject",), f"${{FilesBucket.Arn}}/{prefix}*")},
                  f"{name}: writes the claimed attachments ({prefix}) and does nothing else with them")
            objects = {g for g in uploads if g[1] != "prefix"}
            check(objects == {(("s3:GetObject", "s3:DeleteObject"), f"${{FilesBucket.Arn}}/{waiting}*")},
                  f"{name}: reads and removes the uploads it claims ({waiting}) and nothing more")
        elif crate == RELEASER:
            check(files == {(("s3:GetObject", "s3:DeleteObject"), f"${{FilesBucket.Arn}}/{prefix}*"), (("s3:ListBucket",), "prefix")},
                  f"{name}: lists, reads and removes the claimed attachments ({prefix}) and nothing more")
            check(uploads == {(("s3:PutObject",), f"${{FilesBucket.Arn}}/{waiting}*")},
                  f"{name}: puts released files among the uploads ({waiting}) and nothing more")
        elif crate == ERASER:
            for p, grants in ((prefix, files), (waiting, uploads)):
                objects = {g for g in grants if g[1] != "prefix"}
                check(objects == {(("s3:DeleteObject",), f"${{FilesBucket.Arn}}/{p}*")},
                      f"{name}: lists and removes {p} (an erasure) and nothing more")
        else:
            check(not files and not uploads, f"{name}: no access to the attachment files or uploads")

    service = ROOT / "shared/core/src/service/attachments.rs"
    unclaimed = re.search(r"pub const UNCLAIMED_TTL: Duration = Duration::from_secs\(([\d\s*]+)\);",
                          service.read_text() if service.is_file() else "")
    check(unclaimed is not None, "the attachment service says how long an unclaimed upload waits (UNCLAIMED_TTL)")
    days = eval(unclaimed.group(1)) // 86400 if unclaimed else None  # digits and * only
    for bucket_name, b in buckets.items():
        rules = b.get("LifecycleConfiguration", {}).get("Rules", [])
        check(any(r.get("Prefix") == waiting and r.get("ExpirationInDays") == days for r in rules),
              f"{bucket_name}: unclaimed attachment uploads ({waiting}) expire after {days} days, as the service says")
        check(not any(isinstance(r.get("Prefix"), str) and r["Prefix"].startswith(prefix) for r in rules),
              f"{bucket_name}: no lifecycle rule removes claimed attachments ({prefix})")


def check_bufdir_receiver(template, functions, env):
    """The receiver's parameters reach the functions, and only Submit may read the key."""
    params = template.get("Parameters", {})
    check(params.get("BufdirReceiverUrl", {}).get("Default") == "", "BufdirReceiverUrl defaults to empty (no HTTP receiver)")
    check(params.get("MaskinportenKeySecretArn", {}).get("Default") == "", "MaskinportenKeySecretArn defaults to empty")
    outbox = params.get("BufdirOutbox", {})
    check(outbox.get("Default") == "Disabled" and set(outbox.get("AllowedValues", [])) == {"Enabled", "Disabled"},
          "BufdirOutbox is Enabled or Disabled, Disabled by default")
    condition = template.get("Conditions", {}).get("HasBufdirReceiver")
    check(condition == {"Fn::Not": [{"Fn::Equals": [{"Ref": "BufdirReceiverUrl"}, ""]}]},
          "HasBufdirReceiver holds when BufdirReceiverUrl is set")
    check(ref(env.get("BUFDIR_RECEIVER_URL")) == "BufdirReceiverUrl" and ref(env.get("BUFDIR_OUTBOX")) == "BufdirOutbox",
          "every function knows whether a receiver exists (BUFDIR_RECEIVER_URL, BUFDIR_OUTBOX)")

    check(not [k for k in env if k.startswith("MASKINPORTEN_")], "no Maskinporten setting in Globals (Submit's alone)")
    config = (ROOT / "shared/maskinporten/src/config.rs").read_text()
    read = set(re.findall(r'"(MASKINPORTEN_[A-Z_]+)"', config)) - {"MASKINPORTEN_KEY_FILE"}
    check("MASKINPORTEN_KEY_SECRET_ID" in read, "the Maskinporten configuration reads MASKINPORTEN_KEY_SECRET_ID")
    for name, fn in functions.items():
        props = fn["Properties"]
        submit = Path(props.get("CodeUri", "")).name == "submit"
        variables = props.get("Environment", {}).get("Variables", {})
        given = {k for k in variables if k.startswith("MASKINPORTEN_")}
        if submit:
            check(given == read, f"{name}: gets every Maskinporten setting ({sorted(given ^ read)})")
            check(all(variables[k].get("Fn::If", [None])[0] == "HasBufdirReceiver" for k in given),
                  f"{name}: the Maskinporten settings only with a receiver")
            check(variables.get("MASKINPORTEN_KEY_SECRET_ID", {}).get("Fn::If", [None, None])[1] == {"Ref": "MaskinportenKeySecretArn"},
                  f"{name}: MASKINPORTEN_KEY_SECRET_ID is MaskinportenKeySecretArn")
        else:
            check(not given, f"{name}: no Maskinporten settings ({sorted(given)})")
        grants = [(s, c) for s, c in policy_statements(props) if any(a.startswith("secretsmanager:") for a in actions_of(s))]
        if submit:
            check(len(grants) == 1, f"{name}: one statement grants Secrets Manager access")
            for statement, when in grants:
                check(actions_of(statement) == ["secretsmanager:GetSecretValue"], f"{name}: GetSecretValue and nothing else")
                check(statement.get("Resource") == {"Ref": "MaskinportenKeySecretArn"}, f"{name}: on the key's secret alone")
                check(when == "HasBufdirReceiver", f"{name}: only when a receiver is configured")
        else:
            check(not grants, f"{name}: no Secrets Manager access")


# The functions that can end an export as failed (and so log its `export ended` line).
FAILING_FUNCTIONS = ["mark-failed", "watchdog", "api-create", "api-retry"]


def check_failure_alarm(resources, functions, alarms, env):
    """Failures are counted from the `export ended` log line of every
    function that can fail an export, those with fault `system` only, and
    one alarm watches that count; docs/operations.md has a runbook section
    for every alarm and for no other."""
    ended = rust_consts(Path("shared/core/src/service/exports.rs")).get("EXPORT_ENDED")
    check(ended is not None, "exports.rs names the export ended message (EXPORT_ENDED)")
    pattern = f'{{ $.fields.message = "{ended}" && $.fields.fault = "system" }}'
    filters = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::Logs::MetricFilter"]
    counted = {}
    for f in filters:
        if f.get("FilterPattern") == pattern:
            t = f["MetricTransformations"][0]
            counted[ref(f.get("LogGroupName"))] = (sub_text(t.get("MetricNamespace")), t.get("MetricName"), t.get("MetricValue"))
    by_crate = {fn["Properties"].get("CodeUri", "").removeprefix("functions/"): name for name, fn in functions.items()}
    metrics = set()
    for crate in FAILING_FUNCTIONS:
        fn = functions.get(by_crate.get(crate), {})
        group = ref(fn.get("Properties", {}).get("LoggingConfig", {}).get("LogGroup"))
        check(group in counted, f"{crate}'s system failures are counted from its log group {group}")
        if group in counted:
            metrics.add(counted[group])
    check(len(metrics) == 1 and next(iter(metrics))[2] == "1", f"they all count into one metric ({metrics})")
    if len(metrics) == 1:
        namespace, name, _ = next(iter(metrics))
        check(sub_text(env.get("METRICS_NAMESPACE")) == namespace,
              f"the functions' METRICS_NAMESPACE is the failure count's {namespace}")
        check(any(sub_text(a.get("Namespace")) == namespace and a.get("MetricName") == name and a.get("Threshold") == 1
                  and a.get("Statistic") == "Sum" for a in alarms), f"an alarm on {name}")
    check(not any(a.get("MetricName") == "ExecutionsFailed" for a in alarms),
          "no alarm on every failed execution (user-caused failures page nobody)")
    names = {name for name, v in resources.items() if v["Type"] == "AWS::CloudWatch::Alarm"}
    # Every function has an alarm on its errors and throttles, one section
    # of the runbook covers them all.
    for name in functions:
        alarm = resources.get(name.removesuffix("Function") + "FailingAlarm", {}).get("Properties", {})
        watched = {(q["MetricStat"]["Metric"]["MetricName"], ref(q["MetricStat"]["Metric"]["Dimensions"][0]["Value"]))
                   for q in alarm.get("Metrics", []) if "MetricStat" in q}
        check(watched == {("Errors", name), ("Throttles", name)}, f"{name}: an alarm on its errors and throttles")
    family = {name for name in names if name.endswith("FailingAlarm") and name.removesuffix("FailingAlarm") + "Function" in functions}
    runbook = set(re.findall(r"^## (\w+)$", (ROOT / "docs/operations.md").read_text(), re.M))
    runbook_family = re.search(r"^## <Function>FailingAlarm$", (ROOT / "docs/operations.md").read_text(), re.M)
    check(runbook_family is not None, "docs/operations.md has the section for every function's FailingAlarm")
    rest = names - family
    check(rest == runbook, f"docs/operations.md has a section for every other alarm and no more ({sorted(rest ^ runbook)})")


# Who records audit entries (what they do to an export) and who reads them.
AUDIT_WRITERS = {"api-create", "api-cancel", "api-retry", "api-delete", "generate", "submit", "complete", "mark-failed",
                 "watchdog"}
AUDIT_READERS = {"api-get"}
# The eraser records the deletes it makes, then erases the organisation's entries.
AUDIT_ERASERS = {"api-organisations-erase"}


def check_audit(resources, functions):
    """The audit table outlives deleted exports by TTL, and exactly the
    functions that record or read entries may."""
    table = resources.get("AuditTable", {}).get("Properties", {})
    check(table.get("TimeToLiveSpecification", {}).get("AttributeName") == "expires_at", "the audit table expires entries")
    keys = [k["AttributeName"] for k in table.get("KeySchema", [])]
    check(keys == ["export_id", "entry_key"], f"the audit table's keys ({keys})")
    for name, fn in functions.items():
        crate = fn["Properties"].get("CodeUri", "").removeprefix("functions/")
        actions = set()
        for statement in statements_through_ifs(fn["Properties"].get("Policies", [])):
            if statement.get("Resource") == {"Fn::GetAtt": ["AuditTable", "Arn"]} or \
                    statement.get("Resource") == {"Fn::GetAtt": "AuditTable.Arn"}:
                actions |= set(statement.get("Action", []))
        expected = {"dynamodb:PutItem"} if crate in AUDIT_WRITERS else {"dynamodb:Query"} if crate in AUDIT_READERS \
            else {"dynamodb:PutItem", "dynamodb:Scan", "dynamodb:BatchWriteItem"} if crate in AUDIT_ERASERS else set()
        check(actions == expected, f"{crate}: audit table access {sorted(actions)}, expected {sorted(expected)}")


def statements_through_ifs(policies):
    """Every statement of a function's policies, through !If branches."""
    for policy in policies:
        if isinstance(policy, dict) and "Fn::If" in policy:
            yield from statements_through_ifs([b for b in policy["Fn::If"][1:] if isinstance(b, dict)])
        elif isinstance(policy, dict) and "Statement" in policy:
            yield from policy["Statement"]


def check_local_env():
    """events/local-env.json (for `sam local invoke --env-vars`) names the
    tables, bucket and queues the README's moto walkthrough creates."""
    local = json.loads((ROOT / "events/local-env.json").read_text())["Parameters"]
    readme = (ROOT / "README.md").read_text()
    walkthrough = readme[readme.index("export AWS_ENDPOINT_URL="):]
    walkthrough = walkthrough[:walkthrough.index("cargo run")]
    created = dict(re.findall(r"([A-Z_]+)=(\S+)", walkthrough))
    for name in ["EXPORTS_TABLE", "ACTIVITIES_TABLE", "IMPORTS_TABLE", "WEBHOOKS_TABLE", "AUDIT_TABLE", "FILES_BUCKET"]:
        check(local.get(name) == created.get(name), f"local-env.json {name} is the walkthrough's ({local.get(name)} / {created.get(name)})")
    for name in ["EVENTS_QUEUE_URL", "IMPORTS_QUEUE_URL"]:
        ends = [v.rsplit("/", 1)[-1] for v in (local.get(name, ""), created.get(name, ""))]
        check(ends[0] == ends[1] != "", f"local-env.json {name} names the walkthrough's queue ({ends})")


def check_observability(resources, fn_globals):
    """Traces from every function and the workflow, and the dashboard an
    operator opens first, drawing the metrics the functions write."""
    check(fn_globals.get("Tracing") == "Active", "every function sends X-Ray traces")
    acted = rust_consts(Path("shared/core/src/service/housekeeping.rs")).get("WATCHDOG_ACTED")
    filters = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::Logs::MetricFilter"]
    check(any(f.get("FilterPattern") == f'{{ $.fields.message = "{acted}*" }}' and ref(f.get("LogGroupName")) == "WatchdogLogs"
              for f in filters), f"the watchdog's lines ({acted!r}) are counted from its log group")
    machines = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::Serverless::StateMachine"]
    check(all(m.get("Tracing", {}).get("Enabled") is True for m in machines), "the workflow sends X-Ray traces")
    dashboards = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::CloudWatch::Dashboard"]
    check(len(dashboards) == 1, "one operations dashboard")
    if dashboards:
        body = json.loads(sub_text(dashboards[0]["DashboardBody"]).replace("${", "{"))
        drawn = json.dumps(body)
        for metric in ["ExportsFinished", "ExportsFailedForSystemFault", "ExportDuration", "ExportQueuedTime",
                       "Submissions", "WatchdogActions", "5xx", "Errors", "Throttles", "ApproximateAgeOfOldestMessage"]:
            check(metric in drawn, f"the dashboard draws {metric}")


def check_imports(template, resources, functions, env, buckets, queues, alarms):
    """A file under uploads/ starts its import: the bucket tells the imports
    queue, the queue triggers the import function (one message at a time,
    partial failures, a dead-letter queue with an alarm), and the watchdog
    can put an import back on the queue."""
    config = (ROOT / "shared/aws/src/config.rs").read_text()
    check(re.search(r'DEFAULT_UPLOADS_PREFIX: &str = "([^"]*)"', config).group(1) == UPLOADS_PREFIX,
          f"the service's default uploads prefix is {UPLOADS_PREFIX}")
    check(env.get("UPLOADS_PREFIX") == UPLOADS_PREFIX, f"every function gets UPLOADS_PREFIX {UPLOADS_PREFIX}")

    # the table, as import_store.rs reads it
    store = (ROOT / "shared/aws/src/import_store.rs").read_text()
    index_names = set(re.findall(r'pub const IMPORTS_\w+: &str = "(\w+)";', store))
    table_name = ref(env.get("IMPORTS_TABLE"))
    table = resources.get(table_name, {})
    check(table.get("Type") == "AWS::DynamoDB::Table", f"IMPORTS_TABLE is a table of this stack ({table_name})")
    props = table.get("Properties", {})
    check([k["AttributeName"] for k in props.get("KeySchema", [])] == ["import_id"], f"{table_name} is keyed by import_id")
    check({i["IndexName"] for i in props.get("GlobalSecondaryIndexes", [])} == index_names and len(index_names) == 3,
          f"{table_name} has the indexes the import store queries ({sorted(index_names)})")
    check(props.get("TimeToLiveSpecification", {}).get("AttributeName") == "expires_at", f"{table_name}'s TTL attribute is expires_at")
    check(props.get("SSESpecification", {}).get("SSEEnabled") is True, f"{table_name}: encrypted")

    # the import function and its trigger
    importers = {n: f for n, f in functions.items() if Path(f["Properties"].get("CodeUri", "")).name == IMPORT_CRATE}
    check(len(importers) == 1, f"one function runs functions/{IMPORT_CRATE}")
    if len(importers) != 1:
        return
    name, fn = next(iter(importers.items()))
    props = fn["Properties"]
    sqs_events = [e["Properties"] for e in props.get("Events", {}).values() if e["Type"] == "SQS"]
    check(len(sqs_events) == 1 and len(props.get("Events", {})) == 1, f"{name}: triggered by one SQS queue and nothing else")
    if len(sqs_events) != 1:
        return
    event = sqs_events[0]
    queue_name = ref(event.get("Queue"))
    queue = queues.get(queue_name, {})
    check(bool(queue), f"{name}: reads a queue of this stack ({queue_name})")
    check("ReportBatchItemFailures" in event.get("FunctionResponseTypes", []),
          f"{name}: reports batch item failures (a run that stops comes back alone)")
    check(event.get("BatchSize") == 1, f"{name}: one import per invocation (BatchSize 1)")
    others = [n for n, f in functions.items() if n != name and any(
        ref(e["Properties"].get("Queue")) == queue_name for e in f["Properties"].get("Events", {}).values() if e["Type"] == "SQS")]
    check(not others, f"only {name} reads {queue_name} ({others})")

    timeout = props.get("Timeout", template.get("Globals", {}).get("Function", {}).get("Timeout"))
    lease = re.search(r"pub const LEASE: Duration = Duration::from_secs\(([\d\s*]+)\);",
                      (ROOT / "shared/aws-steps/src/imports.rs").read_text())
    lease_seconds = eval(lease.group(1)) if lease else None  # digits and * only
    check(lease_seconds is not None and isinstance(timeout, int) and timeout <= lease_seconds,
          f"{name}: Timeout {timeout} s is within an import run's lease ({lease_seconds} s)")
    visibility = queue.get("VisibilityTimeout")
    check(isinstance(visibility, int) and isinstance(timeout, int) and visibility >= 6 * timeout,
          f"{queue_name}: VisibilityTimeout {visibility} s is at least 6x {name}'s timeout")
    redrive = queue.get("RedrivePolicy", {})
    dlq = ref(redrive.get("deadLetterTargetArn"))
    check(dlq in queues and dlq != queue_name, f"{queue_name} has a dead-letter queue ({dlq})")
    check(isinstance(redrive.get("maxReceiveCount"), int) and 1 <= redrive["maxReceiveCount"] <= 5,
          f"{queue_name}: a message goes to the dead-letter queue after a few receives ({redrive.get('maxReceiveCount')})")
    check(any(a["Namespace"] == "AWS/SQS" and ref(a["Dimensions"][0]["Value"]) == dlq for a in alarms),
          f"an alarm on {dlq}'s depth")

    # the bucket tells the queue of every file under uploads/
    for bucket_name, b in buckets.items():
        configs = b.get("NotificationConfiguration", {}).get("QueueConfigurations", [])
        to_queue = [c for c in configs if ref(c.get("Queue")) == queue_name]
        check(len(to_queue) == 1, f"{bucket_name}: notifies {queue_name}")
        for c in to_queue:
            rules = c.get("Filter", {}).get("S3Key", {}).get("Rules", [])
            check(c.get("Event") == "s3:ObjectCreated:*", f"{bucket_name}: of every object created")
            check([(r.get("Name", "").lower(), r.get("Value")) for r in rules] == [("prefix", UPLOADS_PREFIX)],
                  f"{bucket_name}: only under {UPLOADS_PREFIX} ({rules})")
        lifecycle = b.get("LifecycleConfiguration", {}).get("Rules", [])
        check(any(r.get("Prefix") == UPLOADS_PREFIX and isinstance(r.get("ExpirationInDays"), int) for r in lifecycle),
              f"{bucket_name}: import files left behind expire")
        policies = {k: v for k, v in resources.items() if v["Type"] == "AWS::SQS::QueuePolicy"
                    and queue_name in [ref(q) for q in v["Properties"]["Queues"]]}
        depends = template["Resources"][bucket_name].get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        check(any(k in depends for k in policies), f"{bucket_name}: made after {queue_name}'s policy (S3 tests the destination)")
        grants = [s for p in policies.values() for s in p["Properties"]["PolicyDocument"]["Statement"]
                  if s.get("Effect") == "Allow" and s.get("Principal") == {"Service": "s3.amazonaws.com"}]
        check(len(grants) == 1 and actions_of(grants[0]) == ["sqs:SendMessage"] and ref(grants[0].get("Resource")) == queue_name,
              f"{queue_name}'s policy lets S3 send to it and do nothing else")
        for g in grants:
            condition = g.get("Condition", {})
            check(ref(condition.get("StringEquals", {}).get("aws:SourceAccount")) == "AWS::AccountId",
                  f"{queue_name}: only from this account's buckets")
            check(bucket_name not in json.dumps(policies), f"{queue_name}'s policy does not name {bucket_name} (no cycle)")

    # the watchdog's sweep puts imports back on the queue
    for fn_name, f in functions.items():
        variables = f["Properties"].get("Environment", {}).get("Variables", {})
        sends = [s for s, _ in policy_statements(f["Properties"])
                 if "sqs:SendMessage" in actions_of(s) and ref(s.get("Resource")) == queue_name]
        if Path(f["Properties"].get("CodeUri", "")).name == "watchdog":
            check(ref(variables.get("IMPORTS_QUEUE_URL")) == queue_name, f"{fn_name}: IMPORTS_QUEUE_URL is {queue_name}")
            check(len(sends) == 1, f"{fn_name}: may send to {queue_name}")
        else:
            check(not sends, f"{fn_name}: does not send to {queue_name}")


def main(path):
    template, matches = decode(str(path))
    if matches or template is None:
        print(f"FAIL {path} does not parse: {matches}")
        return 1
    resources = template["Resources"]
    fn_globals = template.get("Globals", {}).get("Function", {})
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    by_crate = {}

    members = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["members"]
    check("functions/*" in members, "the workspace builds every crate under functions/")

    # --- every function: runtime, architecture, a crate that exists
    for name, fn in functions.items():
        props = fn["Properties"]
        runtime = props.get("Runtime", fn_globals.get("Runtime"))
        arch = props.get("Architectures", fn_globals.get("Architectures"))
        handler = props.get("Handler", fn_globals.get("Handler"))
        check(runtime == "provided.al2023", f"{name}: Runtime provided.al2023 (got {runtime})")
        check(arch == ["arm64"], f"{name}: Architectures [arm64] (got {arch})")
        check(handler == "bootstrap", f"{name}: Handler bootstrap")
        check(fn.get("Metadata", {}).get("BuildMethod") == "rust-cargolambda", f"{name}: Metadata BuildMethod rust-cargolambda")
        code = props.get("CodeUri", "")
        crate = ROOT / code
        cargo = crate / "Cargo.toml"
        ok = isinstance(code, str) and code.startswith("functions/") and cargo.is_file() and (crate / "src/main.rs").is_file()
        check(ok, f"{name}: CodeUri {code} is a crate with src/main.rs")
        if ok:
            package = tomllib.loads(cargo.read_text())["package"]["name"]
            check(package == crate.name, f"{name}: package name {package} matches its folder")
            by_crate[crate.name] = name
        log_group = ref(props.get("LoggingConfig", {}).get("LogGroup"))
        lg = resources.get(log_group, {})
        check(lg.get("Type") == "AWS::Logs::LogGroup" and "RetentionInDays" in lg.get("Properties", {}),
              f"{name}: logs to a log group with a retention")
        for statement, _ in policy_statements(props):
            actions = actions_of(statement)
            check(not any(a == "*" or a.endswith(":*") for a in actions), f"{name}: no wildcard action in {actions}")
            check(statement.get("Resource") != "*", f"{name}: {actions} name their resources")

    crates = {p.name for p in (ROOT / "functions").iterdir() if (p / "Cargo.toml").is_file()}
    check(crates == set(by_crate), f"every crate under functions/ is deployed and vice versa ({sorted(crates ^ set(by_crate))})")

    env = fn_globals.get("Environment", {}).get("Variables", {})
    check(REQUIRED_ENV <= set(env), f"every function gets {sorted(REQUIRED_ENV)}")
    config_consts = rust_consts("shared/aws/src/config.rs")
    required = {config_consts.get(n, n) for n in re.findall(r"required\((\w+)\)", (ROOT / "shared/aws/src/config.rs").read_text())}
    check(required == REQUIRED_ENV, f"REQUIRED_ENV is what config.rs requires ({sorted(required ^ REQUIRED_ENV)})")
    check_bufdir_receiver(template, functions, env)

    # --- the HTTP API: a JWT authorizer, one function per contract route
    apis = [k for k, v in resources.items() if v["Type"] == "AWS::Serverless::HttpApi"]
    check(len(apis) == 1, "one HttpApi")
    api = resources[apis[0]]["Properties"]
    auth = api.get("Auth", {})
    jwt = auth.get("Authorizers", {}).get(auth.get("DefaultAuthorizer"), {})
    check(jwt.get("IdentitySource") == "$request.header.Authorization", "the default authorizer reads the bearer token")
    check_cognito(template, resources, apis[0], api)
    check_claims(template, resources, functions, fn_globals)
    routes = {}
    for name, fn in functions.items():
        for event_name, event in fn["Properties"].get("Events", {}).items():
            if event["Type"] != "HttpApi":
                continue
            p = event["Properties"]
            check(set(p) <= HTTPAPI_EVENT_KEYS, f"{name}.{event_name}: only known HttpApi keys ({sorted(set(p) - HTTPAPI_EVENT_KEYS)})")
            check(ref(p.get("ApiId")) == apis[0], f"{name}.{event_name}: on {apis[0]}")
            route = (p.get("Method", "").upper(), p.get("Path"))
            routes[route] = name
            open_route = p.get("Auth") == {"Authorizer": "NONE"}
            check(open_route == (route in CONSOLE_ROUTES),
                  f"{name}.{event_name}: {'no authorizer (the console)' if route in CONSOLE_ROUTES else 'the JWT authorizer'}")
    for route, crate in CONSOLE_ROUTES.items():
        check(routes.pop(route, None) == by_crate.get(crate), f"{route[0]} {route[1]} is served by functions/{crate}")
    check(set(routes) == set(ROUTES), f"the routes are exactly the contract's ({sorted(set(routes) ^ set(ROUTES), key=str)})")
    endpoints = router_routes()
    served = set(endpoints.values())
    check(len(served) == len(endpoints), "each endpoint router serves a route of its own")
    check(served - set(ROUTES) == set(), f"every route the router serves has its function ({sorted(served - set(ROUTES))})")
    missing = set(ROUTES) - served
    check(missing <= ROUTES_AHEAD_OF_CODE, f"every route deployed is served by the router ({sorted(missing - ROUTES_AHEAD_OF_CODE)})")
    landed = ROUTES_AHEAD_OF_CODE & served
    check(not landed, f"no route listed as ahead of the code is served yet (served now, take off ROUTES_AHEAD_OF_CODE: {sorted(landed)})")
    for route in sorted(ROUTES_AHEAD_OF_CODE - served):
        print(f"note {route[0]} {route[1]} is deployed ahead of the router (its function answers 404 until it lands)")
    for route, crate in ROUTES.items():
        fn = routes.get(route)
        check(fn is not None and fn == by_crate.get(crate), f"{route[0]} {route[1]} is served by functions/{crate}")
        built = function_endpoint(crate)
        check(built is not None and endpoints.get(built) == route,
              f"functions/{crate} builds the router of {route[0]} {route[1]} (it builds endpoints::{built})")
        if fn:
            variables = functions[fn]["Properties"].get("Environment", {}).get("Variables", {})
            check(ref(variables.get("STATE_MACHINE_ARN")) is not None, f"{fn}: knows the state machine")
            event_file = ROOT / "events" / f"{crate}.json"
            if not event_file.is_file():
                check(False, f"events/{crate}.json exists")
                continue
            event = json.loads(event_file.read_text())
            check(event.get("version") == "2.0" and event.get("routeKey") == f"{route[0]} {route[1]}",
                  f"events/{crate}.json is an API Gateway v2 event for {route[0]} {route[1]}")
            pattern = "^" + re.sub(r"\{[a-z_]+\}", "[^/]+", route[1]) + "$"
            check(re.match(pattern, event.get("rawPath", "")) is not None and event["requestContext"]["http"]["method"] == route[0],
                  f"events/{crate}.json's path and method fit the route")
            claims = event.get("requestContext", {}).get("authorizer", {}).get("jwt", {}).get("claims", {})
            check("sub" in claims and ("org_ids" in claims or "org_id" in claims or "roles" in claims),
                  f"events/{crate}.json carries authorizer claims")

    # --- the state machine: definition file, substitutions, functions
    machines = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::StateMachine"}
    check(len(machines) == 1, "one state machine")
    for name, sm in machines.items():
        props = sm["Properties"]
        uri = ROOT / props.get("DefinitionUri", "")
        check(uri.is_file(), f"{name}: DefinitionUri {props.get('DefinitionUri')} exists")
        if not uri.is_file():
            continue
        text = uri.read_text()
        asl = json.loads(text)
        used = set(re.findall(r"\$\{(\w+)\}", text))
        subs = props.get("DefinitionSubstitutions", {})
        check(used == set(subs), f"{name}: every ${{...}} in the ASL is substituted and vice versa ({sorted(used ^ set(subs))})")
        invoked = set()
        for var, value in subs.items():
            target = ref(value)
            check(target in functions, f"{name}: {var} is a function of this template ({target})")
            invoked.add(target)
        for state_name, state in asl["States"].items():
            if state["Type"] != "Task":
                continue
            check(state.get("Resource") == "arn:aws:states:::lambda:invoke", f"{name}.{state_name}: a Lambda invoke task")
            fn_var = re.fullmatch(r"\$\{(\w+)\}", state.get("Parameters", {}).get("FunctionName", ""))
            target = ref(subs.get(fn_var.group(1))) if fn_var else None
            check(target in functions, f"{name}.{state_name}: invokes a function of this template ({target})")
            if target in functions:
                crate = Path(functions[target]["Properties"]["CodeUri"]).name
                check(crate in WORKFLOW_FUNCTIONS, f"{name}.{state_name}: {crate} is a workflow step crate")
            errors = {e for r in state.get("Retry", []) for e in r["ErrorEquals"]}
            check("Retryable" in errors and "NonRetryable" not in errors, f"{name}.{state_name}: retries Retryable only")
        allowed = {ref(p["LambdaInvokePolicy"]["FunctionName"]) for p in props.get("Policies", []) if isinstance(p, dict) and "LambdaInvokePolicy" in p}
        check(invoked == allowed, f"{name}: may invoke exactly the functions it uses ({sorted(invoked ^ allowed)})")
        logging = props.get("Logging", {})
        check(bool(logging.get("Destinations")) and logging.get("Level") in {"ALL", "ERROR", "FATAL"}, f"{name}: logs to CloudWatch")

    # --- data, files, events, alarms
    tables = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::DynamoDB::Table"}
    for name, t in tables.items():
        check(t.get("BillingMode") == "PAY_PER_REQUEST", f"{name}: on-demand")
        check(t.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled") is True, f"{name}: point-in-time recovery")
        check(t.get("TimeToLiveSpecification", {}).get("Enabled") is True, f"{name}: TTL")
    job_store = (ROOT / "shared/aws/src/job_store.rs").read_text()
    index_names = set(re.findall(r'pub const INDEX_\w+: &str = "(\w+)";', job_store))
    exports = tables.get("ExportsTable", {})
    check({i["IndexName"] for i in exports.get("GlobalSecondaryIndexes", [])} == index_names and len(index_names) == 3,
          f"ExportsTable has the indexes the job store queries ({sorted(index_names)})")
    check(exports.get("TimeToLiveSpecification", {}).get("AttributeName") == "expires_at", "ExportsTable's TTL attribute is expires_at")
    check([k["AttributeName"] for k in tables.get("ActivitiesTable", {}).get("KeySchema", [])] == ["org_id", "sk"],
          "ActivitiesTable is keyed (org_id, sk)")

    buckets = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::S3::Bucket"}
    for name, b in buckets.items():
        block = b.get("PublicAccessBlockConfiguration", {})
        check(all(block.get(k) is True for k in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"]),
              f"{name}: all public access blocked")
        check(bool(b.get("BucketEncryption")), f"{name}: encrypted")
        rules = b.get("LifecycleConfiguration", {}).get("Rules", [])
        check(any(r.get("Prefix") == "exports/" and ref(r.get("ExpirationInDays")) == "FileRetentionDays" for r in rules),
              f"{name}: reports expire after FileRetentionDays (backs file_expires_at)")
        policies = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::S3::BucketPolicy" and ref(v["Properties"]["Bucket"]) == name]
        check(any(s.get("Effect") == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
                  for p in policies for s in p["PolicyDocument"]["Statement"]), f"{name}: TLS-only policy")
    check(env.get("FILES_PREFIX") == "exports/", "the functions store reports under the prefix the lifecycle rule expires")
    check_cors(template, apis[0], api, buckets)
    check(ref(env.get("FILE_RETENTION_DAYS")) == "FileRetentionDays", "the service's file retention is the lifecycle rule's")

    queues = {k: v["Properties"] for k, v in resources.items() if v["Type"] == "AWS::SQS::Queue"}
    events_queue = queues.get(ref(env.get("EVENTS_QUEUE_URL")), {})
    dlq = ref(events_queue.get("RedrivePolicy", {}).get("deadLetterTargetArn"))
    check(dlq in queues, "the events queue has a dead-letter queue")
    queue_policies = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::SQS::QueuePolicy"]
    for name, q in queues.items():
        check(q.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in q, f"{name}: encrypted")
        check(any(name in [ref(x) for x in p["Queues"]] and any(
            s.get("Effect") == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in p["PolicyDocument"]["Statement"]) for p in queue_policies), f"{name}: TLS-only policy")
    alarms = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::CloudWatch::Alarm"]
    check_failure_alarm(resources, functions, alarms, env)
    check_observability(resources, fn_globals)
    check_audit(resources, functions)
    check_local_env()
    check(any(a["Namespace"] == "AWS/SQS" and ref(a["Dimensions"][0]["Value"]) == dlq for a in alarms),
          "an alarm on the dead-letter queue's depth")
    check_attachments(functions, env, buckets)
    check_imports(template, resources, functions, env, buckets, queues, alarms)
    outputs = template.get("Outputs", {})
    for output, target in [("ImportsTableName", ref(env.get("IMPORTS_TABLE"))), ("ImportsQueueUrl", "ImportsQueue")]:
        check(ref(outputs.get(output, {}).get("Value")) == target, f"Outputs {output} names {target}")
    log_groups = [v["Properties"] for v in resources.values() if v["Type"] == "AWS::Logs::LogGroup"]
    check(all("RetentionInDays" in g for g in log_groups), "every log group has a retention")

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "template.yaml"))
