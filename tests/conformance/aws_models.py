"""Holds the CodeArtifact and SageMaker emulator to AWS's own service models.

Every call goes through boto3; every answer — success or error — is checked against the
operation's shapes in the JSON models botocore ships (not against anything airlock wrote):
no member the model lacks, types and enums as modelled, required members present, error
codes among the operation's modelled errors (or AWS's documented common errors) with the
modelled HTTP status, and boto3 raising the modelled exception class.

Usage: python aws_models.py ENDPOINT_URL   (exit status 1 and a list of problems on a mismatch)
"""

import base64
import hashlib
import json
import sys
import time
import urllib.request

import boto3
import botocore.exceptions

ENDPOINT = sys.argv[1]
# AWS's common errors (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/CommonErrors.html
# and each service's "Common Errors"): any operation may answer them though no model lists them.
COMMON = {
    "AccessDeniedException": 400,
    "IncompleteSignature": 400,
    "InternalFailure": 500,
    "MissingAuthenticationToken": 403,
    "ThrottlingException": 400,
    "ValidationError": 400,
    "ValidationException": 400,
}
BODY_LOCATIONS = {None}
problems = []
checked = {}


def client(service):
    return boto3.client(
        service,
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="AKIDCONFORMANCE",
        aws_secret_access_key="conformance",
    )


def wire_name(name, member):
    if member.get("location") is None and member.get("locationName"):
        return member["locationName"]
    return member.get("jsonName", name)


def check_value(shapes, shape_name, value, path):
    shape = shapes[shape_name]
    kind = shape["type"]
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{path}: {shape_name} must be an object, got {value!r}")
            return
        body_members = {
            wire_name(n, m): (n, m)
            for n, m in shape.get("members", {}).items()
            if m.get("location") in BODY_LOCATIONS
        }
        for key, v in value.items():
            if key not in body_members:
                problems.append(f"{path}: {key!r} is not a member of {shape_name}")
                continue
            if v is None:
                problems.append(f"{path}.{key}: null (AWS omits an absent member)")
                continue
            check_value(shapes, body_members[key][1]["shape"], v, f"{path}.{key}")
        for req in shape.get("required", []):
            m = shape["members"][req]
            if m.get("location") in BODY_LOCATIONS and wire_name(req, m) not in value:
                problems.append(f"{path}: required member {req!r} of {shape_name} is missing")
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: {shape_name} must be a list")
            return
        for i, item in enumerate(value):
            check_value(shapes, shape["member"]["shape"], item, f"{path}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(f"{path}: {shape_name} must be a map")
            return
        for k, v in value.items():
            check_value(shapes, shape["key"]["shape"], k, f"{path}<key>")
            check_value(shapes, shape["value"]["shape"], v, f"{path}.{k}")
    elif kind == "string":
        if not isinstance(value, str):
            problems.append(f"{path}: {shape_name} must be a string, got {value!r}")
        elif "enum" in shape and value not in shape["enum"]:
            problems.append(f"{path}: {value!r} is not one of {shape_name}'s {shape['enum']}")
        else:
            if "min" in shape and len(value) < shape["min"]:
                problems.append(f"{path}: shorter than {shape_name}'s minimum {shape['min']}")
            if "max" in shape and len(value) > shape["max"]:
                problems.append(f"{path}: longer than {shape_name}'s maximum {shape['max']}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: {shape_name} must be an integer, got {value!r}")
    elif kind in ("double", "float"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: {shape_name} must be a number, got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: {shape_name} must be a boolean, got {value!r}")
    elif kind == "timestamp":
        # The JSON protocols' default timestamp format is epoch seconds.
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{path}: {shape_name} must be epoch seconds, got {value!r}")
    elif kind == "blob":
        try:
            base64.b64decode(value, validate=True)
        except Exception:
            problems.append(f"{path}: {shape_name} must be base64")


def on_response(http_response, parsed, model, **_):
    """botocore's after-call hook: the raw answer, before boto3 raises for an error."""
    op = model.name
    shapes = model.service_model._shape_resolver._shape_map
    status = http_response.status_code
    where = f"{model.service_model.service_name}.{op} ({status})"
    try:
        body = json.loads(http_response.content or b"{}")
    except ValueError:
        problems.append(f"{where}: the body is not JSON")
        return
    if status < 300:
        checked.setdefault(f"{model.service_model.service_name}.{op}", set()).add("ok")
        if model.output_shape is not None and "payload" not in model.output_shape.serialization:
            check_value(shapes, model.output_shape.name, body, where)
        return
    code = http_response.headers.get("x-amzn-ErrorType", "") or body.get("__type", "")
    code = code.split(":")[0].split("#")[-1]
    checked.setdefault(f"{model.service_model.service_name}.{op}", set()).add(code)
    modelled = {e.name: e for e in model.error_shapes}
    if code in modelled:
        expected = modelled[code].metadata.get("error", {}).get("httpStatusCode", 400)
        if status != expected:
            problems.append(f"{where}: {code} must have HTTP status {expected}")
        error_body = {k: v for k, v in body.items() if k != "__type"}
        check_value(shapes, code, error_body, f"{where} {code}")
    elif code in COMMON:
        if status != COMMON[code] and not (code == "AccessDeniedException" and status == 403):
            problems.append(f"{where}: {code} must have HTTP status {COMMON[code]}")
        unknown = set(body) - {"__type", "message", "Message"}
        if unknown:
            problems.append(f"{where}: {code} carries members no AWS error has: {sorted(unknown)}")
    else:
        problems.append(
            f"{where}: {code!r} is neither among the operation's errors {sorted(modelled)} nor a common error"
        )


def expect_error(c, code, call, *args, **kwargs):
    """The call fails with `code`, raised as the modelled class (ClientError for common ones)."""
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        got = e.response["Error"]["Code"]
        if got != code:
            problems.append(f"{call.__name__}: expected {code}, got {got}: {e}")
        modelled = getattr(c.exceptions, code, None)
        if code not in COMMON or modelled is not None:
            if modelled is None or not isinstance(e, modelled):
                problems.append(f"{call.__name__}: boto3 raised {type(e).__name__}, not {code}")
        return e
    problems.append(f"{call.__name__}: expected {code}, the call succeeded")


def deny(operations):
    req = urllib.request.Request(
        f"{ENDPOINT}/_emulator/deny",
        data=json.dumps({"operations": operations}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        r.read()


def codeartifact():
    ca = client("codeartifact")
    ca.meta.events.register("after-call.*.*", on_response)
    d, r = "conformance", "repo"
    ca.create_domain(domain=d)
    expect_error(ca, "ConflictException", ca.create_domain, domain=d)
    ca.create_repository(domain=d, repository=r)
    expect_error(ca, "ConflictException", ca.create_repository, domain=d, repository=r)
    expect_error(ca, "ResourceNotFoundException", ca.create_repository, domain="nodomain", repository=r)
    ca.get_authorization_token(domain=d, durationSeconds=900)
    ca.get_authorization_token(domain=d, durationSeconds=0)
    expect_error(ca, "ValidationException", ca.get_authorization_token, domain=d, durationSeconds=60)
    for fmt in ("pypi", "npm"):
        ca.get_repository_endpoint(domain=d, repository=r, format=fmt)
    expect_error(ca, "ResourceNotFoundException", ca.get_repository_endpoint, domain=d, repository="none", format="pypi")
    # What the controller sends for a generic asset, a retry of it, and a conflicting one.
    content = b"conformance asset\n"
    sha = hashlib.sha256(content).hexdigest()
    generic = dict(domain=d, repository=r, format="generic", namespace="airlock", package="p")
    ca.publish_package_version(**generic, packageVersion="1.0", assetName="a.txt", assetSHA256=sha, assetContent=content)
    ca.publish_package_version(**generic, packageVersion="1.0", assetName="a.txt", assetSHA256=sha, assetContent=content)
    other = b"other bytes\n"
    expect_error(ca, "ConflictException", ca.publish_package_version, **generic, packageVersion="1.0",
                 assetName="a.txt", assetSHA256=hashlib.sha256(other).hexdigest(), assetContent=other)
    out = ca.publish_package_version(**generic, packageVersion="2.0", assetName="a.txt", assetSHA256=sha,
                                     assetContent=content, unfinished=True)
    if out.get("status") != "Unfinished":
        problems.append(f"PublishPackageVersion unfinished=True: status {out.get('status')}, not Unfinished")
    # More assets while Unfinished; the last without the flag publishes the version, and then
    # no asset can be added.
    out = ca.publish_package_version(**generic, packageVersion="2.0", assetName="b.txt", assetSHA256=sha,
                                     assetContent=content)
    if out.get("status") != "Published":
        problems.append(f"PublishPackageVersion without unfinished: status {out.get('status')}, not Published")
    expect_error(ca, "ConflictException", ca.publish_package_version, **generic, packageVersion="2.0",
                 assetName="c.txt", assetSHA256=sha, assetContent=content)
    ca.list_package_version_assets(**generic, packageVersion="1.0")
    expect_error(ca, "ResourceNotFoundException", ca.list_package_version_assets, **generic, packageVersion="9.9")
    ca.describe_package_version(**generic, packageVersion="1.0")
    ca.list_package_versions(**generic)
    ca.list_package_versions(**generic, status="Published")
    # Origin controls on a PyPI package not yet published, as blockUpstream sets them.
    pypi = dict(domain=d, repository=r, format="pypi", package="tidy-lib")
    ca.put_package_origin_configuration(**pypi, restrictions={"publish": "ALLOW", "upstream": "BLOCK"})
    ca.describe_package(**pypi)
    ca.list_package_versions(**pypi, status="Published")
    ca.list_packages(domain=d, repository=r)
    ca.list_packages(domain=d, repository=r, format="pypi")
    page = ca.list_packages(domain=d, repository=r, maxResults=1)
    if "nextToken" in page:
        ca.list_packages(domain=d, repository=r, maxResults=1, nextToken=page["nextToken"])
    ca.update_package_versions_status(**generic, versions=["1.0"], targetStatus="Unlisted")
    ca.update_package_versions_status(**generic, versions=["1.0"], targetStatus="Published")
    expect_error(ca, "ValidationException", ca.update_package_versions_status, **generic, versions=["1.0"],
                 targetStatus="Disposed")
    ca.dispose_package_versions(**generic, versions=["1.0"])
    ca.describe_package_version(**generic, packageVersion="1.0")
    # Another account's domain, and a role without the permission.
    expect_error(ca, "ResourceNotFoundException", ca.list_package_versions, **dict(generic, domainOwner="999999999999"))
    deny(["UpdatePackageVersionsStatus"])
    try:
        expect_error(ca, "AccessDeniedException", ca.update_package_versions_status, **generic,
                     versions=["2.0"], targetStatus="Archived")
    finally:
        deny([])


def sagemaker():
    sm = client("sagemaker")
    sm.meta.events.register("after-call.*.*", on_response)
    role = "arn:aws:iam::111122223333:role/studio"
    # What the controller sends to create a domain.
    args = dict(
        DomainName="conformance",
        AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": role, "SecurityGroups": ["sg-0a1b2c3d"]},
        DomainSettings={"SecurityGroupIds": ["sg-0a1b2c3d"]},
        DefaultSpaceSettings={"ExecutionRole": role, "SecurityGroups": ["sg-0a1b2c3d"]},
        VpcId="vpc-0a1b2c3d",
        SubnetIds=["subnet-0a1b2c3d"],
        AppNetworkAccessType="VpcOnly",
        KmsKeyId="arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    arn = sm.create_domain(**args)["DomainArn"]
    domain = arn.rsplit("/", 1)[-1]
    expect_error(sm, "ResourceInUse", sm.create_domain, **args)
    expect_error(sm, "ResourceInUse", sm.update_domain, DomainId=domain, AppNetworkAccessType="PublicInternetOnly")
    deadline = time.time() + 60
    while sm.describe_domain(DomainId=domain)["Status"] != "InService":
        if time.time() > deadline:
            problems.append("the domain was not InService within a minute")
            return
        time.sleep(0.25)
    expect_error(sm, "ResourceNotFound", sm.describe_domain, DomainId="d-000000000000")
    sm.list_domains()
    sm.list_domains(MaxResults=1)
    sm.list_apps(DomainIdEquals=domain)
    sm.update_domain(DomainId=domain, AppNetworkAccessType="PublicInternetOnly")
    while sm.describe_domain(DomainId=domain)["Status"] != "InService":
        if time.time() > deadline:
            problems.append("the domain was not InService again within a minute")
            return
        time.sleep(0.25)
    expect_error(sm, "ValidationException", sm.update_domain, DomainId=domain, AppNetworkAccessType="VpcOnly",
                 SubnetIds=["subnet-0a1b2c3d"])
    sm.create_app(DomainId=domain, UserProfileName="user", AppType="JupyterLab", AppName="default")
    sm.list_apps(DomainIdEquals=domain)
    expect_error(sm, "ValidationException", sm.update_domain, DomainId=domain, AppNetworkAccessType="VpcOnly",
                 SubnetIds=["subnet-0a1b2c3d"], VpcId="vpc-0a1b2c3d")
    expect_error(sm, "ResourceInUse", sm.delete_domain, DomainId=domain)
    sm.delete_app(DomainId=domain, UserProfileName="user", AppType="JupyterLab", AppName="default")
    while any(a["Status"] != "Deleted" for a in sm.list_apps(DomainIdEquals=domain).get("Apps", [])):
        if time.time() > deadline:
            problems.append("the app was not Deleted within a minute")
            return
        time.sleep(0.25)
    sm.delete_domain(DomainId=domain)
    deny(["DescribeDomain"])
    try:
        expect_error(sm, "AccessDeniedException", sm.describe_domain, DomainId=domain)
    finally:
        deny([])


codeartifact()
sagemaker()
for op in sorted(checked):
    print(f"checked {op}: {', '.join(sorted(checked[op]))}")
if problems:
    print(f"{len(problems)} answer(s) differ from AWS's models:")
    for p in problems:
        print(f"  - {p}")
    sys.exit(1)
print("every answer matches AWS's models")
