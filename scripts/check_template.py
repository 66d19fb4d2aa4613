"""The project's own checks of template.yaml: what cfn-lint and
`sam validate --lint` do not catch (a wrong Runtime or Architectures, a
CodeUri or DefinitionUri pointing nowhere, a misspelled key inside an
HttpApi event, an ASL task naming a function the template lacks), plus
the promises the README makes about the stack (among them: only the Submit
function may read the Maskinporten key, and only when a receiver is set;
every file under uploads/ starts its import through the imports queue).

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
# Every route of the API (see api_router in shared/core/src/http/mod.rs) and the function serving each.
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
    ("POST", "/api/v1/attachments"): "api-attachments-create",
}
# Routes deployed before the router serves them (until then their function
# answers 404 like any unknown path). Once the router has one, the check
# below fails until it is taken off this list.
ROUTES_AHEAD_OF_CODE = set()
WORKFLOW_FUNCTIONS = {"generate", "submit", "complete", "mark-failed"}
HTTPAPI_EVENT_KEYS = {"ApiId", "Method", "Path", "Auth", "PayloadFormatVersion", "RouteSettings", "TimeoutInMillis"}
# What shared/aws/src/config.rs requires (checked against it below).
REQUIRED_ENV = {"EXPORTS_TABLE", "ACTIVITIES_TABLE", "IMPORTS_TABLE", "FILES_BUCKET", "EVENTS_QUEUE_URL"}
# The import function's crate, and the prefix its files arrive under.
IMPORT_CRATE = "import"
UPLOADS_PREFIX = "uploads/"
# Who hands out attachment upload links, and who claims the uploads (the
# activities they write name them).
ATTACHMENT_LINKS = "api-attachments-create"
ATTACHMENT_CLAIMERS = {"api-activities-put", IMPORT_CRATE}

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


def router_routes():
    """(METHOD, path) of every route api_router in shared/core/src/http/mod.rs serves."""
    http = ROOT / "shared/core/src/http"
    consts = rust_consts(*(p.relative_to(ROOT) for p in http.glob("*.rs")))
    source = (http / "mod.rs").read_text()
    body = source[source.index("pub fn api_router"):]
    body = body[:body.index("\n}\n")]
    routes = set()
    for start in [m.end() for m in re.finditer(r"\.route\(", body)]:
        depth, end = 1, start
        while depth:
            depth += {"(": 1, ")": -1}.get(body[end], 0)
            end += 1
        args = body[start:end - 1]
        first = args.split(",")[0].strip()
        if first.startswith("&format!"):
            path = re.search(r'"([^"]*)"', first).group(1)
            path = re.sub(r"(?<!\{)\{(\w+)\}(?!\})", lambda m: consts[m.group(1)], path)
            path = path.replace("{{", "{").replace("}}", "}")
        else:
            path = consts.get(first, first)
        for method in re.findall(r"\b(get|post|put|delete|patch)\(", args[len(first):]):
            routes.add((method.upper(), path))
    return routes


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
    only reads them. Uploads through the API wait in their own prefix (outside
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
    config = jwt.get("JwtConfiguration", {})
    check(ref(config.get("issuer")) == "JwtIssuer" and ref(config.get("audience")) == "JwtAudience",
          "the JWT authorizer's issuer and audience are parameters")
    routes = {}
    for name, fn in functions.items():
        for event_name, event in fn["Properties"].get("Events", {}).items():
            if event["Type"] != "HttpApi":
                continue
            p = event["Properties"]
            check(set(p) <= HTTPAPI_EVENT_KEYS, f"{name}.{event_name}: only known HttpApi keys ({sorted(set(p) - HTTPAPI_EVENT_KEYS)})")
            check(ref(p.get("ApiId")) == apis[0], f"{name}.{event_name}: on {apis[0]}")
            routes[(p.get("Method", "").upper(), p.get("Path"))] = name
    check(set(routes) == set(ROUTES), f"the routes are exactly the contract's ({sorted(set(routes) ^ set(ROUTES), key=str)})")
    served = router_routes()
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
            check("sub" in claims and ("org_ids" in claims or "org_id" in claims), f"events/{crate}.json carries authorizer claims")

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
    check(any(a["MetricName"] == "ExecutionsFailed" and ref(a["Dimensions"][0]["Value"]) in machines for a in alarms),
          "an alarm on failed workflow executions")
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
