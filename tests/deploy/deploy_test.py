"""Consistency tests of the deployment files under deploy/ and the Dockerfile.

Usage: python3 deploy_test.py /path/to/astcd-server /path/to/astcd

Checks that the Kubernetes manifests, the Envoy config, the Prometheus configs and rules, the
Grafana dashboard and the Dockerfile parse, agree with each other (ports, names, labels,
drain timing) and with the real binaries (their flags, the shared libraries they load).
Needs python3-yaml and promtool (Debian package prometheus), both in deploy/packages.txt.

Plain standard library plus yaml. Each check is a small function registered with @check; the
script runs them all, prints one line per check, then a final line "N passed, M failed", and
exits non-zero if any check failed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(ROOT, "deploy")
K8S = os.path.join(DEPLOY, "k8s")
PROM = os.path.join(DEPLOY, "prometheus")
ENVOY = os.path.join(DEPLOY, "envoy", "envoy.yaml")
DASHBOARD = os.path.join(DEPLOY, "grafana", "astcd-dashboard.json")
DOCKERFILE = os.path.join(ROOT, "Dockerfile")
PACKAGES = os.path.join(DEPLOY, "packages.txt")
RULES = os.path.join(PROM, "astcd-rules.yml")
RULES_TEST = os.path.join(ROOT, "tests", "deploy", "astcd_rules_test.yml")
TIMEOUT = 60

SERVER = None  # set from argv in main()
CLI = None

AFFINITY_HEADER = "x-astcd-affinity"
JOB = "astcd"

# The metrics astcd-server exports. Histograms also expose _bucket, _sum and _count.
COUNTERS_AND_GAUGES = {
    "grpc_server_started_total", "grpc_server_handled_total",
    "astcd_sessions_live", "astcd_sessions_max", "astcd_sessions_created_total",
    "astcd_sessions_released_total", "astcd_sessions_evicted_total",
    "astcd_tokens_advanced_total", "astcd_masks_served_total",
    "astcd_programs_decoded_total", "astcd_run_outcomes_total",
    "astcd_tokenize_results_total", "process_resident_memory_bytes",
    "process_cpu_seconds_total",
}
HISTOGRAMS = {"grpc_server_handling_seconds", "astcd_batch_size"}
EXPORTED_METRICS = COUNTERS_AND_GAUGES | {
    h + suffix for h in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
# What the dashboard must show at least.
DASHBOARD_REQUIRED = {
    "grpc_server_handled_total", "grpc_server_handling_seconds_bucket", "astcd_sessions_live",
    "astcd_sessions_max", "astcd_sessions_evicted_total", "astcd_tokens_advanced_total",
    "astcd_programs_decoded_total", "astcd_run_outcomes_total",
    "process_resident_memory_bytes", "process_cpu_seconds_total",
}
# Libraries every Debian 12 image has: not listed in the runtime role of packages.txt.
BASE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1"}
# Sanitizer runtimes appear when the binaries come from the ASan/UBSan build (build-asan);
# a release image never has them.
SANITIZER_LIB = re.compile(r"^lib(asan|ubsan|lsan|tsan|hwasan)\.so")

PROMQL_FUNCTIONS = {
    # aggregations
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile",
    # functions
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
    "day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp",
    "floor", "histogram_quantile", "holt_winters", "hour", "idelta", "increase", "irate",
    "label_join", "label_replace", "ln", "log2", "log10", "minute", "month", "predict_linear",
    "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "time",
    "timestamp", "vector", "year", "avg_over_time", "min_over_time", "max_over_time",
    "sum_over_time", "count_over_time", "quantile_over_time", "stddev_over_time",
    "stdvar_over_time", "last_over_time", "present_over_time",
}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan"}

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


class CheckFailed(Exception):
    pass


def expect(cond, message):
    if not cond:
        raise CheckFailed(message)


def rel(path):
    return os.path.relpath(path, ROOT)


def run(args, **kwargs):
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("text", True)
    return subprocess.run(args, stdin=subprocess.DEVNULL, timeout=TIMEOUT, **kwargs)


# ---------------------------------------------------------------------------------------------
# Loading


_cache = {}


def cached(fn):
    def wrapper():
        if fn.__name__ not in _cache:
            _cache[fn.__name__] = fn()
        return _cache[fn.__name__]
    wrapper.__name__ = fn.__name__
    return wrapper


def yaml_files():
    out = []
    for base in (DEPLOY, os.path.join(ROOT, "tests", "deploy")):
        for dirpath, _, names in os.walk(base):
            for n in sorted(names):
                if n.endswith((".yaml", ".yml")):
                    out.append(os.path.join(dirpath, n))
    return sorted(out)


def load_yaml_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def load_yaml(path):
    docs = load_yaml_docs(path)
    expect(len(docs) == 1, f"{rel(path)}: expected one YAML document, found {len(docs)}")
    return docs[0]


@cached
def kustomization():
    return load_yaml(os.path.join(K8S, "kustomization.yaml"))


@cached
def k8s_objects():
    """Every object of the kustomization's resources, in order."""
    objs = []
    for r in kustomization().get("resources", []):
        for d in load_yaml_docs(os.path.join(K8S, r)):
            objs.append(d)
    return objs


def objects_of(kind):
    return [o for o in k8s_objects() if o.get("kind") == kind]


def one(kind):
    objs = objects_of(kind)
    expect(len(objs) == 1, f"expected one {kind} in deploy/k8s, found {len(objs)}")
    return objs[0]


def deployment():
    return one("Deployment")


def pod_spec():
    return deployment()["spec"]["template"]["spec"]


def server_container():
    cs = pod_spec()["containers"]
    expect(len(cs) == 1, f"expected one container in the Deployment, found {len(cs)}")
    return cs[0]


def container_port(name):
    ports = {p["name"]: p["containerPort"] for p in server_container().get("ports", [])}
    expect(name in ports, f"container has no port named {name!r} (ports: {ports})")
    return ports[name]


def services():
    return objects_of("Service")


def headless_service():
    s = [x for x in services() if x["spec"].get("clusterIP") == "None"]
    expect(len(s) == 1, f"expected one headless Service (clusterIP: None), found {len(s)}")
    return s[0]


def metrics_service():
    s = [x for x in services() if x["spec"].get("clusterIP") != "None"]
    expect(len(s) == 1, f"expected one metrics Service (not headless), found {len(s)}")
    return s[0]


def namespace():
    ns = kustomization().get("namespace")
    expect(ns, "kustomization.yaml sets no namespace")
    return ns


def parse_flags(args):
    """{'listen': '0.0.0.0:50051', ...} from ['--listen=...', '--drain-deadline', '20s', ...]."""
    flags = {}
    i = 0
    while i < len(args):
        a = args[i]
        expect(a.startswith("--"), f"argument {a!r} is not a --flag")
        name, eq, value = a[2:].partition("=")
        if not eq:
            expect(i + 1 < len(args) and not args[i + 1].startswith("--"),
                   f"flag {a!r} has no value")
            value = args[i + 1]
            i += 1
        key = name.replace("-", "_")
        expect(key not in flags, f"flag --{name} given twice")
        flags[key] = value
        i += 1
    return flags


def deployment_flags():
    c = server_container()
    expect("command" not in c, "the container sets command; the image's ENTRYPOINT must run")
    return parse_flags(c.get("args", []))


def host_port(address):
    m = re.fullmatch(r"(.*):(\d+)", address)
    expect(m, f"address {address!r} is not host:port")
    return m.group(1), int(m.group(2))


DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text):
    """Seconds in an absl/Go duration such as 20s, 1m30s, 1.5s, 500ms."""
    expect(re.fullmatch(r"(\d+(\.\d*)?(ns|us|ms|s|m|h))+", text),
           f"{text!r} is not a duration like 20s")
    return sum(float(n) * DURATION_UNITS[u]
               for n, u in re.findall(r"(\d+(?:\.\d*)?)(ns|us|ms|s|m|h)", text))


@cached
def server_help():
    """(flag names with underscores, defaults) from `astcd-server --help`, whose flag lines
    read `  --name (default VALUE; RANGE)` (server/flags.cc, FlagHelp)."""
    p = run([SERVER, "--help"], stderr=subprocess.STDOUT)
    names, defaults = set(), {}
    for m in re.finditer(r"^  --([a-z0-9-]+) \(default (.*?); .*\)$", p.stdout, re.M):
        name = m.group(1).replace("-", "_")
        names.add(name)
        defaults[name] = m.group(2).strip('"')
    expect("listen" in names,
           f"cannot find --listen in `astcd-server --help` (exit {p.returncode}):\n"
           f"{p.stdout[:2000]}")
    return names, defaults


def drain_deadline_seconds():
    flags = deployment_flags()
    if "drain_deadline" in flags:
        return parse_duration(flags["drain_deadline"])
    _, defaults = server_help()
    expect("drain_deadline" in defaults, "the server shows no default for --drain-deadline")
    return parse_duration(defaults["drain_deadline"])


def prestop_seconds():
    pre = server_container().get("lifecycle", {}).get("preStop")
    if not pre:
        return 0.0
    if "sleep" in pre:
        return float(pre["sleep"]["seconds"])
    cmd = pre.get("exec", {}).get("command", [])
    expect(len(cmd) == 2 and os.path.basename(cmd[0]) == "sleep",
           f"preStop is not a plain sleep: {pre}")
    return parse_duration(cmd[1] if not cmd[1].isdigit() else cmd[1] + "s")


def dockerfile_instructions():
    """[(stage index, INSTRUCTION, argument text)] with continuations joined."""
    with open(DOCKERFILE, encoding="utf-8") as f:
        lines = f.read().split("\n")
    logical, cur = [], ""
    for line in lines:
        s = line.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue  # a comment inside a continued instruction
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        cur += s
        logical.append(cur)
        cur = ""
    expect(not cur, "Dockerfile ends inside a continued line")
    out, stage = [], -1
    for l in logical:
        instr, _, arg = l.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stage += 1
        expect(stage >= 0, f"Dockerfile instruction before FROM: {l!r}")
        out.append((stage, instr, arg.strip()))
    return out


def exec_form(arg):
    try:
        v = json.loads(arg)
    except json.JSONDecodeError:
        raise CheckFailed(f"{arg!r} is not the exec (JSON array) form")
    expect(isinstance(v, list) and all(isinstance(x, str) for x in v),
           f"{arg!r} is not a JSON array of strings")
    return v


def packages_of_roles(*roles):
    """deploy/packages.txt's packages of these roles, read the one way everything reads them."""
    out = subprocess.run(["bash", os.path.join(DEPLOY, "install-deps.sh"), "--list", *roles],
                         capture_output=True, text=True)
    expect(out.returncode == 0, f"install-deps.sh --list {' '.join(roles)}: {out.stderr}")
    pkgs = out.stdout.split()
    expect(len(pkgs) == len(set(pkgs)), f"{rel(PACKAGES)} lists a package twice in {roles}")
    return pkgs


def runtime_packages():
    return packages_of_roles("runtime")


def cmake_binary_dir(binary):
    d = os.path.dirname(os.path.abspath(binary))
    while d != os.path.dirname(d):
        if os.path.exists(os.path.join(d, "CMakeCache.txt")):
            return d
        d = os.path.dirname(d)
    raise CheckFailed(f"{binary} is not inside a CMake build tree (no CMakeCache.txt above it)")


# ---------------------------------------------------------------------------------------------
# PromQL: the metric names an expression reads


def promql_metric_names(expr):
    """The metric names in a PromQL expression (Grafana variables allowed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    e = re.sub(r"\{[^}]*\}", " ", e)          # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)         # range and subquery durations
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\b(group_left|group_right)\b", " ", e)
    e = re.sub(r"\boffset\s+-?[0-9a-z]+", " ", e)
    e = re.sub(r"\$\{?\w+\}?", " ", e)        # Grafana variables
    e = re.sub(r"(?<![\w:])\d+(\.\d*)?([eE][+-]?\d+)?", " ", e)  # numbers
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        following = e[m.end():].lstrip()
        if following.startswith("("):
            expect(word in PROMQL_FUNCTIONS, f"unknown PromQL function {word!r} in {expr!r}")
            continue
        if word.lower() in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def promql_check_syntax(named_exprs):
    """Parses each PromQL expression with promtool (as recording rules in a temp file)."""
    rules = [{"record": f"check:{name}", "expr": e} for name, e in named_exprs]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "exprs.yml")
        with open(path, "w") as f:
            yaml.safe_dump({"groups": [{"name": "exprs", "rules": rules}]}, f)
        p = run([promtool(), "check", "rules", path], stderr=subprocess.STDOUT)
        expect(p.returncode == 0, f"promtool cannot parse the expressions:\n{p.stdout}")


def promtool():
    path = shutil.which("promtool")
    expect(path, "promtool not found (Debian package prometheus, in deploy/packages.txt)")
    return path


def grafana_to_promql(expr):
    e = expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
    e = e.replace("$__range", "1h")
    return re.sub(r"\$\{?\w+(:\w+)?\}?", ".*", e)


# ---------------------------------------------------------------------------------------------
# Prometheus relabeling, enough to follow the scrape config on a made-up target


def relabel(labels, configs):
    """Applies relabel_configs (keep, drop, replace) to a dict; None if the target is dropped."""
    labels = dict(labels)
    for c in configs:
        action = c.get("action", "replace")
        sep = c.get("separator", ";")
        value = sep.join(labels.get(s, "") for s in c.get("source_labels", []))
        regex = re.compile(c.get("regex", "(.*)"))
        m = regex.fullmatch(value)
        if action == "keep":
            if not m:
                return None
        elif action == "drop":
            if m:
                return None
        elif action == "replace":
            if m:
                repl = re.sub(r"\$\{?(\d+)\}?", r"\\\1", c.get("replacement", "$1"))
                labels[c["target_label"]] = m.expand(repl)
        else:
            raise CheckFailed(f"relabel action {action!r} not simulated by this test")
    return labels


def sanitize(name):
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def endpoints_target(service, pod_ip, port):
    """The labels kubernetes_sd (role: endpoints) gives the endpoint of `service` at pod_ip."""
    labels = {"__address__": f"{pod_ip}:{port}", "__metrics_path__": "/metrics",
              "__scheme__": "http", "__meta_kubernetes_namespace": namespace(),
              "__meta_kubernetes_service_name": service["metadata"]["name"],
              "__meta_kubernetes_pod_name": "astcd-server-abc12"}
    for k, v in service["metadata"].get("labels", {}).items():
        labels["__meta_kubernetes_service_label_" + sanitize(k)] = v
    for k, v in service["metadata"].get("annotations", {}).items():
        labels["__meta_kubernetes_service_annotation_" + sanitize(k)] = v
    return labels


def scrape_job(config):
    jobs = [j for j in config.get("scrape_configs", []) if j.get("job_name") == JOB]
    expect(len(jobs) == 1, f"expected one scrape job {JOB!r}, found {len(jobs)}")
    return jobs[0]


def prometheus_configs():
    out = []
    for n in sorted(os.listdir(PROM)):
        p = os.path.join(PROM, n)
        if n.endswith((".yml", ".yaml")):
            d = load_yaml(p)
            if isinstance(d, dict) and "scrape_configs" in d:
                out.append((p, d))
    return out


# ---------------------------------------------------------------------------------------------
# Checks: YAML and Kubernetes


@check
def every_yaml_parses():
    files = yaml_files()
    expect(len(files) >= 8, f"found only {len(files)} YAML files under deploy/")
    for f in files:
        try:
            docs = load_yaml_docs(f)
        except yaml.YAMLError as e:
            raise CheckFailed(f"{rel(f)}: {e}")
        expect(docs, f"{rel(f)} is empty")


@check
def kustomization_lists_every_manifest():
    k = kustomization()
    expect(k.get("kind") == "Kustomization", "kustomization.yaml is not a Kustomization")
    resources = k.get("resources", [])
    on_disk = sorted(n for n in os.listdir(K8S)
                     if n.endswith((".yaml", ".yml")) and n != "kustomization.yaml")
    expect(sorted(resources) == on_disk,
           f"kustomization resources {sorted(resources)} != files in deploy/k8s {on_disk}")


@check
def k8s_kinds():
    got = sorted((o.get("apiVersion"), o.get("kind")) for o in k8s_objects())
    want = sorted([("v1", "Namespace"), ("apps/v1", "Deployment"), ("v1", "Service"),
                   ("v1", "Service"), ("policy/v1", "PodDisruptionBudget"),
                   ("autoscaling/v2", "HorizontalPodAutoscaler")])
    expect(got == want, f"k8s objects {got} != {want}")
    names = [(o["kind"], o["metadata"]["name"]) for o in k8s_objects()]
    expect(len(names) == len(set(names)), f"duplicate object names: {names}")
    ns = one("Namespace")["metadata"]["name"]
    expect(ns == namespace(), f"Namespace object {ns!r} != kustomization namespace {namespace()!r}")


@check
def kubectl_kustomize_builds():
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("     (kubectl not installed: skipped `kubectl kustomize`)")
        return
    p = run([kubectl, "kustomize", K8S])
    expect(p.returncode == 0, f"kubectl kustomize failed:\n{p.stderr}")
    built = [d for d in yaml.safe_load_all(p.stdout) if d]
    got = sorted((o["kind"], o["metadata"]["name"]) for o in built)
    want = sorted((o["kind"], o["metadata"]["name"]) for o in k8s_objects())
    expect(got == want, f"kubectl kustomize built {got}, the files have {want}")
    for o in built:
        if o["kind"] != "Namespace":
            expect(o["metadata"].get("namespace") == namespace(),
                   f"{o['kind']} {o['metadata']['name']} is not in namespace {namespace()}")


@check
def selectors_match_pods():
    d = deployment()
    pod_labels = d["spec"]["template"]["metadata"]["labels"]

    def matches(selector, what):
        expect(selector, f"{what} has an empty selector")
        for k, v in selector.items():
            expect(pod_labels.get(k) == v, f"{what} selects {k}={v}, pod labels are {pod_labels}")

    matches(d["spec"]["selector"]["matchLabels"], "the Deployment")
    for s in services():
        matches(s["spec"].get("selector"), f"Service {s['metadata']['name']}")
    pdb = one("PodDisruptionBudget")
    matches(pdb["spec"]["selector"]["matchLabels"], "the PodDisruptionBudget")
    ref = one("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    expect((ref["apiVersion"], ref["kind"], ref["name"]) ==
           ("apps/v1", "Deployment", d["metadata"]["name"]),
           f"HPA scaleTargetRef {ref} does not name the Deployment")


@check
def every_deployment_flag_is_a_server_flag():
    names, _ = server_help()
    flags = deployment_flags()
    unknown = sorted(f for f in flags if f not in names)
    expect(not unknown,
           "astcd-server does not accept " + ", ".join("--" + f for f in unknown) +
           f" (its flags: {sorted(names)})")


@check
def listen_flags_match_container_ports():
    flags = deployment_flags()
    for flag, port_name in (("listen", "grpc"), ("metrics_listen", "metrics")):
        expect(flag in flags, f"the Deployment's args do not pass --{flag.replace('_', '-')}")
        host, port = host_port(flags[flag])
        expect(host in ("0.0.0.0", "[::]", ""),
               f"--{flag}={flags[flag]} does not listen on all interfaces; probes and "
               f"Services could not reach it")
        expect(port == container_port(port_name),
               f"--{flag} port {port} != containerPort {port_name} {container_port(port_name)}")
    expect(container_port("grpc") != container_port("metrics"), "grpc and metrics share a port")


@check
def probes_are_grpc_on_the_grpc_port():
    c = server_container()
    for probe in ("readinessProbe", "livenessProbe"):
        p = c.get(probe)
        expect(p, f"the container has no {probe}")
        expect("grpc" in p, f"{probe} is not a gRPC probe: {p}")
        for other in ("httpGet", "tcpSocket", "exec"):
            expect(other not in p, f"{probe} also has {other}")
        expect(p["grpc"].get("port") == container_port("grpc"),
               f"{probe} port {p['grpc'].get('port')} != grpc containerPort "
               f"{container_port('grpc')}")
        expect(p["grpc"].get("service", "") == "",
               f"{probe} asks for service {p['grpc'].get('service')!r}; the server sets only "
               f"the default status \"\"")


@check
def grace_period_outlasts_the_drain():
    drain = drain_deadline_seconds()
    pre = prestop_seconds()
    grace = pod_spec().get("terminationGracePeriodSeconds", 30)
    expect(grace > pre + drain,
           f"terminationGracePeriodSeconds {grace} <= preStop {pre}s + drain deadline {drain}s: "
           f"the kubelet would kill calls the server is still draining")
    live = server_container()["livenessProbe"]
    window = live.get("periodSeconds", 10) * live.get("failureThreshold", 3)
    expect(window >= drain,
           f"liveness gives up after {window}s, before the {drain}s drain ends (a draining "
           f"server reports NOT_SERVING)")


@check
def security_context():
    pod = pod_spec().get("securityContext", {})
    c = server_container().get("securityContext", {})

    def get(key):
        return c.get(key, pod.get(key))

    expect(get("runAsNonRoot") is True, "runAsNonRoot is not true")
    expect(get("runAsUser") == 10001, f"runAsUser is {get('runAsUser')}, not 10001")
    expect(c.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
    expect(c.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    expect("ALL" in c.get("capabilities", {}).get("drop", []), "capabilities do not drop ALL")


@check
def resources_requests_and_limits():
    r = server_container().get("resources", {})
    for kind in ("requests", "limits"):
        for res in ("cpu", "memory"):
            expect(res in r.get(kind, {}), f"resources.{kind}.{res} is not set")


@check
def headless_grpc_service():
    s = headless_service()
    ports = s["spec"]["ports"]
    expect(len(ports) == 1, f"headless Service has {len(ports)} ports, expected 1 (grpc)")
    p = ports[0]
    expect(p.get("name") == "grpc", f"headless Service port is named {p.get('name')!r}")
    target = p.get("targetPort", p["port"])
    target = container_port(target) if isinstance(target, str) else target
    expect(target == container_port("grpc"),
           f"headless Service targets {target}, the grpc containerPort is {container_port('grpc')}")
    expect(p["port"] == container_port("grpc"),
           f"headless Service port {p['port']} != grpc containerPort: with clusterIP None "
           f"clients connect to the pod port directly")


@check
def metrics_service_and_annotations():
    s = metrics_service()
    ports = s["spec"]["ports"]
    expect(len(ports) == 1 and ports[0].get("name") == "metrics",
           f"metrics Service ports {ports}: expected one named metrics")
    target = ports[0].get("targetPort", ports[0]["port"])
    target = container_port(target) if isinstance(target, str) else target
    expect(target == container_port("metrics"),
           f"metrics Service targets {target}, the metrics containerPort is "
           f"{container_port('metrics')}")
    a = s["metadata"].get("annotations", {})
    expect(a.get("prometheus.io/scrape") == "true", "prometheus.io/scrape is not \"true\"")
    expect(str(a.get("prometheus.io/port")) == str(container_port("metrics")),
           f"prometheus.io/port {a.get('prometheus.io/port')!r} != metrics containerPort")
    expect(a.get("prometheus.io/path") == "/metrics", "prometheus.io/path is not /metrics")


@check
def pdb_and_hpa():
    hpa = one("HorizontalPodAutoscaler")["spec"]
    expect(hpa.get("minReplicas", 1) >= 2, "HPA minReplicas < 2: one replica is a single point")
    expect(hpa["maxReplicas"] >= hpa.get("minReplicas", 1), "HPA maxReplicas < minReplicas")
    cpu = [m for m in hpa.get("metrics", [])
           if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"]
    expect(cpu, "the HPA does not scale on CPU")
    expect(cpu[0]["resource"]["target"]["type"] == "Utilization",
           "the HPA's CPU target is not Utilization")
    pdb = one("PodDisruptionBudget")["spec"]
    if "maxUnavailable" in pdb:
        expect(pdb["maxUnavailable"] in (1, "1"),
               f"PDB maxUnavailable {pdb['maxUnavailable']}: lose one replica at a time")
    else:
        expect(int(pdb["minAvailable"]) < hpa.get("minReplicas", 1),
               "PDB minAvailable >= HPA minReplicas: node drains would block")
    replicas = deployment()["spec"].get("replicas", 1)
    expect(hpa.get("minReplicas", 1) <= replicas <= hpa["maxReplicas"],
           f"Deployment replicas {replicas} outside the HPA's range")


# ---------------------------------------------------------------------------------------------
# Checks: Envoy


def envoy_config():
    return load_yaml(ENVOY)


def find_key(node, key):
    """Every value under `key` anywhere in a nested dict/list."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from find_key(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from find_key(v, key)


@check
def envoy_listener_is_http2():
    cfg = envoy_config()
    listeners = cfg["static_resources"]["listeners"]
    ls = [l for l in listeners if l["address"]["socket_address"].get("port_value") == 8080]
    expect(len(ls) == 1, "no Envoy listener on port 8080")
    expect(ls[0]["address"]["socket_address"]["address"] == "0.0.0.0",
           "the Envoy listener is not on 0.0.0.0")
    hcms = [f["typed_config"] for fc in ls[0]["filter_chains"] for f in fc["filters"]
            if f["name"] == "envoy.filters.network.http_connection_manager"]
    expect(len(hcms) == 1, "the listener has no http_connection_manager")
    hcm = hcms[0]
    expect(hcm.get("@type", "").endswith("http_connection_manager.v3.HttpConnectionManager"),
           f"http_connection_manager is not the v3 type: {hcm.get('@type')}")
    expect(hcm.get("codec_type") == "HTTP2" or
           (hcm.get("codec_type", "AUTO") == "AUTO" and "http2_protocol_options" in hcm),
           "the listener does not speak HTTP/2 (gRPC)")
    expect(any(f["name"] == "envoy.filters.http.router" for f in hcm["http_filters"]),
           "no router filter")


@check
def envoy_routes_with_ring_hash_on_the_affinity_header():
    cfg = envoy_config()
    clusters = {c["name"]: c for c in cfg["static_resources"]["clusters"]}
    routes = list(find_key(cfg["static_resources"]["listeners"], "routes"))
    expect(routes, "no routes")
    for rs in routes:
        for r in rs:
            action = r.get("route")
            expect(action, f"route {r} does not forward")
            name = action.get("cluster")
            expect(name in clusters, f"route to unknown cluster {name!r}")
            c = clusters[name]
            expect(c.get("lb_policy") == "RING_HASH",
                   f"cluster {name} lb_policy {c.get('lb_policy')}, not RING_HASH")
            headers = [h["header"]["header_name"].lower()
                       for h in action.get("hash_policy", []) if "header" in h]
            expect(headers and headers[0] == AFFINITY_HEADER,
                   f"route to {name} does not hash {AFFINITY_HEADER} first (hash headers: "
                   f"{headers})")


@check
def envoy_cluster_targets_the_headless_service():
    cfg = envoy_config()
    clusters = cfg["static_resources"]["clusters"]
    expect(len(clusters) == 1, f"expected one Envoy cluster, found {len(clusters)}")
    c = clusters[0]
    expect(c.get("type") == "STRICT_DNS", f"cluster type {c.get('type')}, not STRICT_DNS")
    expect(list(find_key(c, "http2_protocol_options")),
           "the cluster has no http2_protocol_options: gRPC needs HTTP/2 upstream")
    hcs = c.get("health_checks", [])
    expect(hcs and all("grpc_health_check" in h for h in hcs),
           "the cluster has no grpc_health_check")
    for h in hcs:
        expect(h["grpc_health_check"].get("service_name", "") == "",
               "the gRPC health check asks for a named service; the server sets only \"\"")
    addrs = list(find_key(c.get("load_assignment", {}), "socket_address"))
    expect(addrs, "the cluster has no endpoints")
    svc = headless_service()
    for a in addrs:
        labels = a["address"].split(".")
        expect(labels[0] == svc["metadata"]["name"],
               f"Envoy resolves {a['address']!r}, the headless Service is "
               f"{svc['metadata']['name']!r}")
        if len(labels) > 1:
            expect(labels[1] == namespace(),
                   f"Envoy resolves {a['address']!r}, the namespace is {namespace()!r}")
        expect(a.get("port_value") == svc["spec"]["ports"][0]["port"] == container_port("grpc"),
               f"Envoy port {a.get('port_value')} != the grpc port")


# ---------------------------------------------------------------------------------------------
# Checks: Prometheus


@check
def prometheus_scrape_configs():
    configs = dict((os.path.basename(p), c) for p, c in prometheus_configs())
    expect("prometheus.yml" in configs, "deploy/prometheus/prometheus.yml has no scrape_configs")
    job = scrape_job(configs["prometheus.yml"])
    sds = job.get("kubernetes_sd_configs", [])
    expect(len(sds) == 1 and sds[0].get("role") == "endpoints",
           "the astcd job is not kubernetes_sd with role endpoints")
    names = sds[0].get("namespaces", {}).get("names")
    if names:
        expect(namespace() in names, f"kubernetes_sd namespaces {names} miss {namespace()!r}")
    # Follow the relabeling on the endpoints of both Services.
    configs_ = job.get("relabel_configs", [])
    pod_ip = "10.1.2.3"
    m = relabel(endpoints_target(metrics_service(), pod_ip, container_port("metrics")), configs_)
    expect(m is not None, "the relabeling drops the metrics Service's endpoint")
    expect(m["__address__"] == f"{pod_ip}:{container_port('metrics')}",
           f"the relabeling scrapes {m['__address__']}, not the pod's metrics port")
    expect(m.get("__metrics_path__") == "/metrics", f"path {m.get('__metrics_path__')}")
    g = relabel(endpoints_target(headless_service(), pod_ip, container_port("grpc")), configs_)
    expect(g is None, f"the relabeling scrapes the gRPC Service too: {g and g['__address__']}")
    # Local: a static target on this machine's metrics port.
    local = [c for n, c in configs.items() if n != "prometheus.yml"]
    expect(local, "no local (static_configs) Prometheus config")
    targets = [t for c in local for sc in scrape_job(c).get("static_configs", [])
               for t in sc["targets"]]
    expect(f"127.0.0.1:{container_port('metrics')}" in targets,
           f"no local config scrapes 127.0.0.1:{container_port('metrics')} ({targets})")


@check
def promtool_check_config():
    tool = promtool()
    for path, cfg in prometheus_configs():
        p = run([tool, "check", "config", path], cwd=os.path.dirname(path),
                stderr=subprocess.STDOUT)
        if p.returncode == 0:
            continue
        # Debian's promtool is built without Kubernetes service discovery. Check the rest:
        # the same config with the kubernetes_sd_configs swapped for a static target.
        expect("kubernetes_sd_configs" in p.stdout and "not found" in p.stdout,
               f"promtool check config {rel(path)}:\n{p.stdout}")
        print(f"     (promtool lacks kubernetes_sd: checked {rel(path)} with it replaced)")
        cfg = json.loads(json.dumps(cfg))
        for job in cfg["scrape_configs"]:
            if job.pop("kubernetes_sd_configs", None) is not None:
                job["static_configs"] = [{"targets": ["10.1.2.3:9464"]}]
        cfg["rule_files"] = [os.path.join(os.path.dirname(path), r)
                             for r in cfg.get("rule_files", [])]
        with tempfile.TemporaryDirectory() as d:
            tmp = os.path.join(d, os.path.basename(path))
            with open(tmp, "w") as f:
                yaml.safe_dump(cfg, f)
            p = run([tool, "check", "config", tmp], stderr=subprocess.STDOUT)
            expect(p.returncode == 0, f"promtool check config {rel(path)} (no k8s sd):\n{p.stdout}")


@check
def promtool_check_rules():
    p = run([promtool(), "check", "rules", RULES], stderr=subprocess.STDOUT)
    expect(p.returncode == 0, f"promtool check rules:\n{p.stdout}")


@check
def promtool_rule_unit_tests():
    p = run([promtool(), "test", "rules", RULES_TEST], cwd=os.path.dirname(RULES_TEST),
            stderr=subprocess.STDOUT)
    expect(p.returncode == 0, f"promtool test rules:\n{p.stdout}")


@check
def rules_cover_the_alerts_and_name_real_metrics():
    groups = load_yaml(RULES)["groups"]
    rules = [r for g in groups for r in g["rules"]]
    recorded = {r["record"] for r in rules if "record" in r}
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    for r in rules:
        names = promql_metric_names(r["expr"])
        unknown = names - EXPORTED_METRICS - recorded - {"up"}
        expect(not unknown, f"rule {r.get('alert') or r.get('record')} reads unknown metrics "
                            f"{sorted(unknown)}")

    def alert_reading(*metrics):
        found = [a for a in alerts.values()
                 if set(metrics) <= promql_metric_names(a["expr"])]
        expect(found, f"no alert reads {metrics}")
        return found[0]

    err = alert_reading("grpc_server_handled_total")
    expect('grpc_code!="OK"' in err["expr"].replace(" ", ""), "the error alert does not count "
           "grpc_code!=\"OK\"")
    expect("0.01" in err["expr"], "the error alert threshold is not 0.01 (1%)")
    cap = alert_reading("astcd_sessions_live", "astcd_sessions_max")
    expect("0.9" in cap["expr"], "the session cap alert threshold is not 0.9")
    lat = alert_reading("grpc_server_handling_seconds_bucket")
    expect("histogram_quantile(0.99" in lat["expr"].replace(" ", "") and "0.1" in lat["expr"],
           "the latency alert is not p99 > 0.1s")
    down = alert_reading("up")
    expect(re.search(r'up\{[^}]*job="%s"' % JOB, down["expr"]) and "== 0" in down["expr"],
           f"the target-down alert is not up{{job=\"{JOB}\"}} == 0")


# ---------------------------------------------------------------------------------------------
# Checks: Grafana


def dashboard_panels(panels):
    for p in panels:
        yield p
        yield from dashboard_panels(p.get("panels", []))


@check
def grafana_dashboard():
    with open(DASHBOARD, encoding="utf-8") as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError as e:
            raise CheckFailed(f"{rel(DASHBOARD)}: {e}")
    expect(36 <= d.get("schemaVersion", 0) <= 41, f"schemaVersion {d.get('schemaVersion')}")
    expect(d.get("title") and d.get("uid"), "the dashboard has no title or uid")
    ds_vars = [v for v in d.get("templating", {}).get("list", []) if v.get("type") == "datasource"]
    ds_inputs = [i for i in d.get("__inputs", []) if i.get("pluginId") == "prometheus"]
    expect(ds_vars or ds_inputs, "no Prometheus datasource variable or input")
    allowed_ds = {"${" + v["name"] + "}" for v in ds_vars} | {"$" + v["name"] for v in ds_vars}
    allowed_ds |= {"${" + i["name"] + "}" for i in ds_inputs}
    panels = list(dashboard_panels(d.get("panels", [])))
    ids = [p.get("id") for p in panels]
    expect(len(ids) == len(set(ids)) and None not in ids, f"panel ids not unique: {ids}")
    exprs, seen = [], set()
    for p in panels:
        g = p.get("gridPos", {})
        expect(all(k in g for k in "hwxy") and g["x"] + g["w"] <= 24,
               f"panel {p.get('title')!r} has a bad gridPos {g}")
        if p.get("type") == "row":
            continue
        targets = p.get("targets", [])
        expect(targets, f"panel {p.get('title')!r} has no queries")
        for t in targets:
            ds = t.get("datasource", p.get("datasource"))
            uid = ds.get("uid") if isinstance(ds, dict) else ds
            expect(uid in allowed_ds, f"panel {p.get('title')!r} uses datasource {ds!r}")
            expr = t.get("expr", "")
            expect(expr, f"panel {p.get('title')!r} has a query with no expr")
            names = promql_metric_names(expr)
            unknown = names - EXPORTED_METRICS
            expect(not unknown, f"panel {p.get('title')!r} reads unknown metrics "
                                f"{sorted(unknown)}: {expr}")
            seen |= names
            exprs.append((f"panel_{p['id']}_{t.get('refId', 'X')}", grafana_to_promql(expr)))
    missing = DASHBOARD_REQUIRED - seen
    expect(not missing, f"the dashboard shows none of {sorted(missing)}")
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q
        if v.get("type") == "query":
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", q or "")
            expect(inner, f"variable {v['name']} query {q!r} is not label_values(metric, label)")
            unknown = promql_metric_names(inner.group(1)) - EXPORTED_METRICS
            expect(not unknown, f"variable {v['name']} reads unknown metrics {sorted(unknown)}")
    promql_check_syntax(exprs)


# ---------------------------------------------------------------------------------------------
# Checks: Dockerfile and the runtime image's packages


@check
def dockerfile_stages():
    ins = dockerfile_instructions()
    froms = [(s, a) for s, i, a in ins if i == "FROM"]
    expect(len(froms) == 2, f"expected 2 stages, found {len(froms)}")
    expect(re.fullmatch(r"debian:12\s+AS\s+build", froms[0][1], re.I),
           f"build stage is {froms[0][1]!r}, not 'debian:12 AS build'")
    expect(froms[1][1].split()[0] == "debian:12-slim", f"runtime stage is {froms[1][1]!r}")
    build = [(i, a) for s, i, a in ins if s == 0]
    runtime = [(i, a) for s, i, a in ins if s == 1]
    expect(any(i == "COPY" and "deploy/packages.txt" in a and "deploy/install-deps.sh" in a
               for i, a in build), "the build stage does not copy packages.txt and install-deps.sh")
    expect(any(i == "RUN" and re.search(r"install-deps\.sh build(\s|$)", a) for i, a in build),
           "the build stage does not run `install-deps.sh build` (the build role only)")
    expect(any(i == "COPY" and "deploy/packages.txt" in a and "deploy/install-deps.sh" in a
               for i, a in runtime),
           "the runtime stage does not copy packages.txt and install-deps.sh")
    expect(any(i == "RUN" and re.search(r"install-deps\.sh runtime(\s|$)", a)
               for i, a in runtime),
           "the runtime stage does not run `install-deps.sh runtime`")
    expect(not any("apt-get install" in a for _, i, a in ins if i == "RUN"),
           "a stage installs packages besides install-deps.sh's roles")


@check
def dockerfile_copies_the_built_binaries():
    ins = dockerfile_instructions()
    cmake = [a for s, i, a in ins if s == 0 and i == "RUN" and "cmake -S" in a]
    expect(cmake, "the build stage runs no cmake configure")
    m = re.search(r"-B\s*(\S+)", cmake[0])
    expect(m, "cmake has no -B build directory")
    build_dir = m.group(1)
    copies = {}
    for s, i, a in ins:
        if s == 1 and i == "COPY" and a.startswith("--from="):
            parts = a.split()
            expect(parts[0] == "--from=build", f"COPY {a!r} is not from the build stage")
            copies[parts[-1]] = parts[1:-1]
    for binary, dest in ((SERVER, "/usr/local/bin/astcd-server"), (CLI, "/usr/local/bin/astcd")):
        relpath = os.path.relpath(os.path.abspath(binary), cmake_binary_dir(binary))
        want = f"{build_dir.rstrip('/')}/{relpath}"
        expect(dest in copies, f"the runtime stage does not copy {dest}")
        expect(copies[dest] == [want],
               f"COPY to {dest} takes {copies[dest]}, the build puts it at {want}")


@check
def dockerfile_runtime_settings():
    ins = dockerfile_instructions()
    runtime = [(i, a) for s, i, a in ins if s == 1]
    exposed = {int(p.split("/")[0]) for i, a in runtime if i == "EXPOSE" for p in a.split()}
    want = {container_port("grpc"), container_port("metrics")}
    expect(exposed == want, f"EXPOSE {sorted(exposed)} != the container ports {sorted(want)}")
    users = [a for i, a in runtime if i == "USER"]
    expect(users, "no USER: the image would run as root")
    user = users[-1].split(":")[0]
    expect(user not in ("root", "0"), f"USER {user} is root")
    expect(user == "10001", f"USER {user}: make it numeric 10001 so runAsNonRoot can verify it")
    expect(any(i == "RUN" and "--uid 10001" in a for i, a in runtime), "no user with uid 10001")
    entry = [a for i, a in runtime if i == "ENTRYPOINT"]
    expect(entry and exec_form(entry[-1]) == ["/usr/local/bin/astcd-server"],
           f"ENTRYPOINT {entry} is not [\"/usr/local/bin/astcd-server\"]")
    cmd = [a for i, a in runtime if i == "CMD"]
    expect(cmd, "no default CMD")
    flags = parse_flags(exec_form(cmd[-1]))
    names, _ = server_help()
    unknown = sorted(f for f in flags if f not in names)
    expect(not unknown, f"CMD passes flags astcd-server does not accept: {unknown}")
    for flag, port in (("listen", container_port("grpc")),
                       ("metrics_listen", container_port("metrics"))):
        expect(flag in flags, f"CMD does not pass --{flag.replace('_', '-')}")
        host, p = host_port(flags[flag])
        expect(host == "0.0.0.0" and p == port, f"CMD --{flag}={flags[flag]}, want 0.0.0.0:{port}")


@check
def dockerignore():
    path = os.path.join(ROOT, ".dockerignore")
    expect(os.path.exists(path), "no .dockerignore")
    with open(path) as f:
        pats = {l.strip() for l in f if l.strip() and not l.startswith("#")}
    for p in (".git", "build", "build-*"):
        expect(p in pats, f".dockerignore does not exclude {p}")


@check
def runtime_packages_exist_in_apt():
    pkgs = runtime_packages()
    expect(pkgs, "runtime-packages.txt is empty")
    r = run(["apt-cache", "show", "--no-all-versions", *pkgs])
    found = set(re.findall(r"^Package: (\S+)$", r.stdout, re.M))
    missing = [p for p in pkgs if p not in found]
    expect(not missing, f"not Debian packages here (apt-cache show): {missing} "
                        f"({r.stderr.strip()})")


def ldd_libraries(binary):
    """[path] of the shared libraries `binary` loads (the vdso excluded)."""
    r = run(["ldd", binary])
    expect(r.returncode == 0, f"ldd {binary} failed: {r.stderr}")
    libs = []
    for line in r.stdout.splitlines():
        line = line.strip()
        expect("not found" not in line, f"ldd {binary}: {line}")
        m = re.match(r"\S+ => (/\S+) \(", line) or re.match(r"(/\S+) \(", line)
        if m:
            libs.append(m.group(1))
    expect(libs, f"ldd {binary} lists no libraries")
    return libs


def packages_of(paths):
    """{path: Debian package} for libraries, by one `dpkg -S` (merged /usr: both spellings)."""
    candidates = {}
    for path in paths:
        c = [path, os.path.realpath(path)]
        c += [x[4:] if x.startswith("/usr/") else "/usr" + x for x in list(c)]
        candidates[path] = c
    r = run(["dpkg", "-S", *sorted({x for c in candidates.values() for x in c})])
    owner = {}
    for line in r.stdout.splitlines():
        m = re.match(r"([^:]+(?::[^:\s]+)?(?:, [^:]+(?::[^:\s]+)?)*): (/\S+)$", line)
        if m and not line.startswith("diversion"):
            owner[m.group(2)] = m.group(1).split(",")[0].split(":")[0].strip()
    out = {}
    for path, c in candidates.items():
        pkgs = [owner[x] for x in c if x in owner]
        expect(pkgs, f"no Debian package ships {path} (dpkg -S)")
        out[path] = pkgs[0]
    return out


@check
def runtime_packages_cover_the_binaries():
    listed = set(runtime_packages())
    libs = {lib for binary in (SERVER, CLI) for lib in ldd_libraries(binary)
            if not SANITIZER_LIB.match(os.path.basename(lib))}
    needed = {}
    for lib, pkg in packages_of(sorted(libs)).items():
        needed.setdefault(pkg, set()).add(os.path.basename(lib))
    missing = {p: sorted(l) for p, l in needed.items() if p not in listed | BASE_PACKAGES}
    expect(not missing, f"the runtime role of {rel(PACKAGES)} lacks packages the binaries load: "
           f"{missing}")
    extra = sorted(listed - set(needed))
    if extra:
        print(f"     (listed but not loaded by these binaries: {', '.join(extra)})")


@check
def packages_txt_has_the_test_tools():
    pkgs = set(packages_of_roles("test"))
    for p in ("python3-yaml", "prometheus", "python3-torch"):
        expect(p in pkgs, f"the test role of deploy/packages.txt lacks {p}")
    build = set(packages_of_roles("build"))
    for p in ("python3-venv", "python3-pip", "python3-setuptools"):
        expect(p in build, f"the build role of deploy/packages.txt lacks {p} (the Python package)")
    expect(not build & pkgs, f"packages in both build and test: {sorted(build & pkgs)}")


@check
def operations_doc_headings():
    with open(os.path.join(ROOT, "docs", "operations.md"), encoding="utf-8") as f:
        headings = set(re.findall(r"^##\s+(.+?)\s*$", f.read(), re.M))
    for h in ("Running locally", "The container", "Kubernetes",
              "Scaling out with session affinity through Envoy", "Dashboards and alerts",
              "Metrics", "TLS and authentication", "Limits", "Recovery"):
        expect(h in headings, f"docs/operations.md has no section \"## {h}\"")


def main():
    global SERVER, CLI
    if len(sys.argv) != 3:
        print("usage: deploy_test.py /path/to/astcd-server /path/to/astcd", file=sys.stderr)
        return 2
    SERVER, CLI = (os.path.abspath(a) for a in sys.argv[1:])
    for b in (SERVER, CLI):
        if not os.access(b, os.X_OK):
            print(f"not an executable: {b}", file=sys.stderr)
            return 2
    passed = failed = 0
    for fn in CHECKS:
        try:
            fn()
        except CheckFailed as e:
            failed += 1
            print(f"FAIL {fn.__name__}: {e}")
        except Exception:  # a crash in a check is a failure of that check
            failed += 1
            print(f"FAIL {fn.__name__}: exception\n{traceback.format_exc()}")
        else:
            passed += 1
            print(f"ok   {fn.__name__}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
