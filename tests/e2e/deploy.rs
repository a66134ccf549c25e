//! The deployment files checked offline against the code: `deploy/k8s` (kinds, names and
//! selectors that match, ports that are the binaries' defaults, env variables the binaries'
//! `--help` lists, the KEDA query run on the real schema), the Grafana dashboard (only
//! catalogued metrics), `docker-compose.yml` and the `Dockerfile`. Where `kubectl` and
//! `docker compose` are installed, their own offline validators run too.

use anyhow::{bail, ensure, Context as _};
use serde::Deserialize as _;
use serde_json::Value;
use sigmasight_shared::metrics::{self, Kind};
use sigmasight_tests::prometheus::metric_names;
use sigmasight_tests::{binary, TestDb};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Read by `shared::telemetry::init`, not by clap, so absent from every `--help`.
const TELEMETRY_ENV: &[&str] = &["RUST_LOG", "LOG_FORMAT"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every document of a YAML file, as JSON values (empty documents left out).
fn yaml_docs(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    let mut docs = Vec::new();
    for doc in yaml_serde::Deserializer::from_str(&text) {
        let value = Value::deserialize(doc).with_context(|| path.display().to_string())?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// The resources of the kustomize base: every document of every file it lists.
fn k8s() -> anyhow::Result<Vec<Value>> {
    let dir = repo().join("deploy/k8s");
    let kustomization = yaml_docs(&dir.join("kustomization.yaml"))?;
    let mut docs = Vec::new();
    for file in strings(&kustomization[0]["resources"]) {
        docs.extend(yaml_docs(&dir.join(file))?);
    }
    Ok(docs)
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> anyhow::Result<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .with_context(|| format!("no {kind} {name}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `true` when every label of `selector` is on `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels[k] == *v))
}

/// What `<command> --help` prints, with an empty environment (clap shows env values).
fn help(command: &[&str]) -> anyhow::Result<String> {
    let (program, args) = command.split_first().context("empty command")?;
    let out = Command::new(binary(program))
        .args(args)
        .arg("--help")
        .env_clear()
        .output()?;
    let text = String::from_utf8(out.stdout)?;
    ensure!(out.status.success(), "{command:?} --help failed: {text}");
    Ok(text)
}

/// The env variable names a `--help` text lists (`[env: NAME=…]`).
fn help_env(command: &[&str]) -> anyhow::Result<BTreeSet<String>> {
    let names: BTreeSet<String> = help(command)?
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| rest.split(['=', ']']).next())
        .map(str::to_owned)
        .collect();
    ensure!(!names.is_empty(), "{command:?} --help lists no variable");
    Ok(names)
}

/// The `[default: …]` of a variable in a `--help` text.
fn help_default(command: &[&str], var: &str) -> anyhow::Result<String> {
    let text = help(command)?;
    let line = text
        .split(&format!("[env: {var}="))
        .nth(1)
        .and_then(|after| after.lines().next())
        .with_context(|| format!("{var} not in {command:?} --help"))?;
    let default = line
        .split("[default: ")
        .nth(1)
        .and_then(|d| d.split(']').next())
        .with_context(|| format!("{var} has no default"))?;
    Ok(default.to_owned())
}

fn port_of(addr: &str) -> anyhow::Result<u64> {
    Ok(addr.rsplit_once(':').context("no port")?.1.parse()?)
}

fn containers(workload: &Value) -> Vec<&Value> {
    workload["spec"]["template"]["spec"]["containers"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn container<'a>(docs: &'a [Value], deployment: &str) -> anyhow::Result<&'a Value> {
    containers(find(docs, "Deployment", deployment)?)
        .into_iter()
        .next()
        .with_context(|| format!("{deployment} has no container"))
}

fn config_value<'a>(docs: &'a [Value], map: &str, key: &str) -> anyhow::Result<&'a str> {
    find(docs, "ConfigMap", map)?["data"][key]
        .as_str()
        .with_context(|| format!("ConfigMap {map} has no string {key}"))
}

/// The number of a container's named port.
fn container_port(container: &Value, name: &str) -> Option<u64> {
    container["ports"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)?["containerPort"]
        .as_u64()
}

#[test]
fn kustomization_lists_every_manifest_and_each_is_a_known_kind() -> anyhow::Result<()> {
    let dir = repo().join("deploy/k8s");
    let kustomization = yaml_docs(&dir.join("kustomization.yaml"))?;
    let listed: BTreeSet<&str> = strings(&kustomization[0]["resources"])
        .into_iter()
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    ensure!(
        on_disk
            .iter()
            .map(String::as_str)
            .eq(listed.iter().copied()),
        "kustomization lists {listed:?}, the folder holds {on_disk:?}"
    );
    ensure!(listed.contains("keda-scaledobject.yaml"));

    let docs = k8s()?;
    let mut seen = BTreeSet::new();
    for d in &docs {
        let (kind, name) = (d["kind"].as_str(), d["metadata"]["name"].as_str());
        let (Some(kind), Some(name)) = (kind, name) else {
            bail!("a document without kind or name: {d}");
        };
        ensure!(
            d["apiVersion"].is_string(),
            "{kind} {name} has no apiVersion"
        );
        ensure!(seen.insert((kind, name)), "{kind} {name} twice");
    }
    let kinds: BTreeSet<&str> = seen.iter().map(|(k, _)| *k).collect();
    let expected = [
        "ConfigMap",
        "Deployment",
        "Job",
        "PodDisruptionBudget",
        "ScaledObject",
        "Secret",
        "Service",
        "TriggerAuthentication",
    ];
    ensure!(kinds == expected.into(), "kinds {kinds:?}");
    for (kind, name) in [
        ("Deployment", "sigmasight-api"),
        ("Deployment", "sigmasight-worker"),
        ("Service", "sigmasight-api"),
        ("Job", "sigmasight-migrate"),
        ("PodDisruptionBudget", "sigmasight-api"),
        ("PodDisruptionBudget", "sigmasight-worker"),
    ] {
        find(&docs, kind, name)?;
    }
    let job = find(&docs, "Job", "sigmasight-migrate")?;
    ensure!(strings(&containers(job)[0]["command"]) == ["sigmasight-api", "migrate"]);

    // kustomize itself, offline, where installed (CI's machine has kubectl).
    if let Ok(out) = Command::new("kubectl").arg("kustomize").arg(&dir).output() {
        let built = String::from_utf8(out.stdout)?;
        ensure!(
            out.status.success(),
            "kubectl kustomize: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let count = yaml_serde::Deserializer::from_str(&built).count();
        ensure!(
            count == docs.len(),
            "kustomize built {count} of {}",
            docs.len()
        );
    }
    Ok(())
}

#[test]
fn services_and_disruption_budgets_select_their_deployments_pods() -> anyhow::Result<()> {
    let docs = k8s()?;
    let api = find(&docs, "Deployment", "sigmasight-api")?;
    let worker = find(&docs, "Deployment", "sigmasight-worker")?;
    let pods = |d: &Value| d["spec"]["template"]["metadata"]["labels"].clone();
    for d in [api, worker] {
        ensure!(
            selects(&d["spec"]["selector"]["matchLabels"], &pods(d)),
            "{} does not select its own pods",
            d["metadata"]["name"]
        );
    }
    ensure!(api["spec"]["replicas"] == 2 && worker["spec"]["replicas"] == 3);

    let service = find(&docs, "Service", "sigmasight-api")?;
    ensure!(selects(&service["spec"]["selector"], &pods(api)));
    ensure!(!selects(&service["spec"]["selector"], &pods(worker)));
    let api_container = container(&docs, "sigmasight-api")?;
    for port in service["spec"]["ports"].as_array().context("no ports")? {
        let target = port["targetPort"].as_str().context("targetPort by name")?;
        ensure!(container_port(api_container, target).is_some(), "{target}");
    }

    for (pdb, own, other) in [
        ("sigmasight-api", api, worker),
        ("sigmasight-worker", worker, api),
    ] {
        let selector = &find(&docs, "PodDisruptionBudget", pdb)?["spec"]["selector"]["matchLabels"];
        ensure!(selects(selector, &pods(own)), "PDB {pdb} misses its pods");
        ensure!(!selects(selector, &pods(other)), "PDB {pdb} covers others");
    }
    Ok(())
}

#[test]
fn ports_probes_and_scrape_annotations_are_the_binaries_defaults() -> anyhow::Result<()> {
    let docs = k8s()?;
    let api = container(&docs, "sigmasight-api")?;
    let api_port = port_of(&help_default(
        &["sigmasight-api", "serve"],
        "SIGMASIGHT_BIND",
    )?)?;
    ensure!(api_port == 8080, "the api's default port is {api_port}");
    ensure!(container_port(api, "http") == Some(api_port));
    // The container must listen on all interfaces, on the same port.
    let bind = config_value(&docs, "sigmasight-api", "SIGMASIGHT_BIND")?;
    ensure!(bind.starts_with("0.0.0.0:") && port_of(bind)? == api_port);
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        let get = &api[probe]["httpGet"];
        ensure!(get["path"] == path, "{probe} path {}", get["path"]);
        ensure!(
            get["port"] == "http" || get["port"] == api_port,
            "{probe} port"
        );
    }

    // The worker's metrics port has no default (unset = off): 9464 is the manifests' choice,
    // the port Prometheus exporters conventionally use.
    let worker = container(&docs, "sigmasight-worker")?;
    let metrics_bind = config_value(&docs, "sigmasight-worker", "SIGMASIGHT_METRICS_BIND")?;
    ensure!(metrics_bind == "0.0.0.0:9464");
    ensure!(container_port(worker, "metrics") == Some(9464));

    for (deployment, port) in [("sigmasight-api", api_port), ("sigmasight-worker", 9464)] {
        let notes =
            &find(&docs, "Deployment", deployment)?["spec"]["template"]["metadata"]["annotations"];
        ensure!(notes["prometheus.io/scrape"] == "true", "{deployment}");
        ensure!(notes["prometheus.io/port"] == port.to_string().as_str());
        ensure!(notes["prometheus.io/path"] == "/metrics");
    }
    Ok(())
}

#[test]
fn worker_termination_grace_exceeds_its_shutdown_grace() -> anyhow::Result<()> {
    let docs = k8s()?;
    let grace: u64 =
        config_value(&docs, "sigmasight-worker", "SIGMASIGHT_SHUTDOWN_GRACE_SECS")?.parse()?;
    let kill_after = find(&docs, "Deployment", "sigmasight-worker")?["spec"]["template"]["spec"]
        ["terminationGracePeriodSeconds"]
        .as_u64()
        .context("terminationGracePeriodSeconds")?;
    ensure!(
        kill_after > grace,
        "SIGKILL at {kill_after} s, grace {grace} s"
    );
    Ok(())
}

#[test]
fn keda_scales_the_worker_deployment_from_1_to_20_on_due_runs() -> anyhow::Result<()> {
    let docs = k8s()?;
    let scaled = docs
        .iter()
        .find(|d| d["kind"] == "ScaledObject")
        .context("no ScaledObject")?;
    let spec = &scaled["spec"];
    ensure!(spec["scaleTargetRef"]["kind"] == "Deployment");
    let target = spec["scaleTargetRef"]["name"].as_str().context("target")?;
    ensure!(target == "sigmasight-worker");
    find(&docs, "Deployment", target)?;
    ensure!(spec["minReplicaCount"] == 1 && spec["maxReplicaCount"] == 20);

    let trigger = &spec["triggers"][0];
    ensure!(trigger["type"] == "postgresql");
    // One worker per SIGMASIGHT_WORKER_CONCURRENCY due runs.
    let concurrency = config_value(&docs, "sigmasight-worker", "SIGMASIGHT_WORKER_CONCURRENCY")?;
    ensure!(trigger["metadata"]["targetQueryValue"] == concurrency);

    let auth_name = trigger["authenticationRef"]["name"]
        .as_str()
        .context("auth")?;
    let auth = find(&docs, "TriggerAuthentication", auth_name)?;
    let refs = auth["spec"]["secretTargetRef"].as_array().context("refs")?;
    ensure!(refs.iter().any(|r| r["parameter"] == "connection"));
    for r in refs {
        let secret = find(&docs, "Secret", r["name"].as_str().context("name")?)?;
        let key = r["key"].as_str().context("key")?;
        ensure!(secret["stringData"][key].is_string(), "Secret lacks {key}");
    }
    Ok(())
}

/// Names a container sets: envFrom's ConfigMap and Secret keys, and `env` entries (whose
/// `secretKeyRef`/`configMapKeyRef` must name an existing key).
fn container_env(docs: &[Value], c: &Value) -> anyhow::Result<BTreeSet<String>> {
    let mut names = BTreeSet::new();
    for from in c["envFrom"].as_array().into_iter().flatten() {
        let (kind, map) = if from["configMapRef"].is_object() {
            ("ConfigMap", &from["configMapRef"])
        } else {
            ("Secret", &from["secretRef"])
        };
        let source = find(docs, kind, map["name"].as_str().context("envFrom name")?)?;
        let data = source["data"]
            .as_object()
            .or(source["stringData"].as_object());
        names.extend(data.context("no data")?.keys().cloned());
    }
    for e in c["env"].as_array().into_iter().flatten() {
        names.insert(e["name"].as_str().context("env name")?.to_owned());
        for (field, kind, data) in [
            ("secretKeyRef", "Secret", "stringData"),
            ("configMapKeyRef", "ConfigMap", "data"),
        ] {
            let r = &e["valueFrom"][field];
            if r.is_object() {
                let source = find(docs, kind, r["name"].as_str().context("ref name")?)?;
                let key = r["key"].as_str().context("ref key")?;
                ensure!(source[data][key].is_string(), "{kind} lacks {key}");
            }
        }
    }
    Ok(names)
}

/// Fails on a name `command --help` does not list (telemetry's own variables aside).
fn check_known(
    helps: &mut BTreeMap<Vec<String>, BTreeSet<String>>,
    command: Vec<String>,
    names: &BTreeSet<String>,
    what: &str,
) -> anyhow::Result<()> {
    if !helps.contains_key(&command) {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        helps.insert(command.clone(), help_env(&args)?);
    }
    let known = &helps[&command];
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| !known.contains(*n) && !TELEMETRY_ENV.contains(&n.as_str()))
        .collect();
    ensure!(
        unknown.is_empty(),
        "{what} sets {unknown:?}, unknown to `{} --help`",
        command.join(" ")
    );
    Ok(())
}

#[test]
fn every_env_variable_the_manifests_set_is_in_the_binarys_help() -> anyhow::Result<()> {
    let docs = k8s()?;
    let mut helps = BTreeMap::new();
    let mut consumed = BTreeSet::new();
    for workload in docs
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "Job")
    {
        for c in containers(workload) {
            let command: Vec<String> = strings(&c["command"]).into_iter().map(Into::into).collect();
            let names = container_env(&docs, c)?;
            let what = format!(
                "{} container {}",
                workload["metadata"]["name"].as_str().unwrap_or_default(),
                c["name"].as_str().unwrap_or_default()
            );
            check_known(&mut helps, command, &names, &what)?;
            consumed.extend(names);
        }
    }
    ensure!(helps.len() == 3, "commands {:?}", helps.keys());

    // No dead settings: every ConfigMap and Secret key reaches a container.
    for d in docs
        .iter()
        .filter(|d| d["kind"] == "ConfigMap" || d["kind"] == "Secret")
    {
        let data = d["data"].as_object().or(d["stringData"].as_object());
        for key in data.context("no data")?.keys() {
            ensure!(
                consumed.contains(key),
                "{} {key} is used by no container",
                d["kind"]
            );
        }
    }
    Ok(())
}

fn compose() -> anyhow::Result<Value> {
    let mut docs = yaml_docs(&repo().join("docker-compose.yml"))?;
    ensure!(docs.len() == 1);
    Ok(docs.remove(0))
}

#[test]
fn every_env_variable_compose_sets_is_in_the_binarys_help() -> anyhow::Result<()> {
    let services = compose()?["services"].clone();
    let mut helps = BTreeMap::new();
    for (name, service) in services.as_object().context("services")? {
        let command: Vec<String> = strings(&service["command"])
            .into_iter()
            .map(Into::into)
            .collect();
        if !command
            .first()
            .is_some_and(|c| c.starts_with("sigmasight-"))
        {
            continue;
        }
        let env = service["environment"]
            .as_object()
            .context("environment map")?;
        let names = env.keys().cloned().collect();
        check_known(
            &mut helps,
            command,
            &names,
            &format!("compose service {name}"),
        )?;
    }
    ensure!(helps.len() == 3, "commands {:?}", helps.keys());
    Ok(())
}

#[test]
fn compose_migrates_first_and_waits_for_healthy_services() -> anyhow::Result<()> {
    let compose = compose()?;
    let s = &compose["services"];
    ensure!(strings(&s["migrate"]["command"]) == ["sigmasight-api", "migrate"]);
    ensure!(s["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy");
    for app in ["api", "worker"] {
        let deps = &s[app]["depends_on"];
        ensure!(deps["postgres"]["condition"] == "service_healthy", "{app}");
        ensure!(
            deps["migrate"]["condition"] == "service_completed_successfully",
            "{app}"
        );
    }
    ensure!(s["postgres"]["healthcheck"].is_object() && s["api"]["healthcheck"].is_object());
    ensure!(s["worker"]["environment"]["SIGMASIGHT_METRICS_BIND"] == "0.0.0.0:9464");
    // The checks run curl inside the runtime image: the Dockerfile must install it.
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile"))?;
    let runtime = dockerfile.rsplit("\nFROM ").next().context("no stage")?;
    for app in ["api", "worker"] {
        let test = strings(&s[app]["healthcheck"]["test"]);
        ensure!(test.get(1) == Some(&"curl"), "{app} health check {test:?}");
    }
    ensure!(runtime.contains(" curl"), "runtime stage lacks curl");

    // Compose's own validation, where the plugin is installed.
    let available = Command::new("docker")
        .args(["compose", "version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if available {
        let out = Command::new("docker")
            .args(["compose", "-f", "docker-compose.yml", "config", "-q"])
            .current_dir(repo())
            .output()?;
        ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[test]
fn dockerfile_builds_both_binaries_and_runs_as_the_manifests_user() -> anyhow::Result<()> {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile"))?;
    let stages =
        dockerfile.matches("\nFROM ").count() + usize::from(dockerfile.starts_with("FROM "));
    ensure!(stages >= 2, "not multi-stage");
    ensure!(dockerfile.contains("cargo build --release --bins"));
    let runtime = dockerfile.rsplit("\nFROM ").next().context("no stage")?;
    let user = runtime
        .lines()
        .filter_map(|l| l.strip_prefix("USER "))
        .next_back()
        .context("the runtime stage has no USER")?;
    let uid: u64 = user.split(':').next().unwrap_or_default().trim().parse()?;
    ensure!(uid != 0);
    for workload in k8s()?
        .iter()
        .filter(|d| d["kind"] == "Deployment" || d["kind"] == "Job")
    {
        let ctx = &workload["spec"]["template"]["spec"]["securityContext"];
        ensure!(
            ctx["runAsNonRoot"] == true && ctx["runAsUser"] == uid,
            "{}",
            workload["metadata"]["name"]
        );
        for c in containers(workload) {
            ensure!(c["resources"]["requests"].is_object() && c["resources"]["limits"].is_object());
            ensure!(c["securityContext"]["allowPrivilegeEscalation"] == false);
        }
    }
    Ok(())
}

#[tokio::test]
async fn keda_query_counts_due_queued_runs_on_the_real_schema() -> anyhow::Result<()> {
    let docs = k8s()?;
    let scaled = docs
        .iter()
        .find(|d| d["kind"] == "ScaledObject")
        .context("no ScaledObject")?;
    let query = scaled["spec"]["triggers"][0]["metadata"]["query"]
        .as_str()
        .context("no query")?;

    let db = TestDb::create().await?;
    let pool = db.pool().await?;
    // (status, run_at relative to now): due queued, queued in backoff, and not queued at all.
    let rows = [
        ("queued", "-1 minute"),
        ("queued", "-1 hour"),
        ("queued", "-1 second"),
        ("queued", "+10 minutes"),
        ("queued", "+1 hour"),
        ("running", "-5 minutes"),
        ("completed", "-1 hour"),
        ("failed", "-1 hour"),
    ];
    for (status, offset) in rows {
        sqlx::query(
            "insert into runs (id, kind, status, source, run_at)
             values ($1, 'symbol', $2, 'admin', now() + $3::interval)",
        )
        .bind(uuid::Uuid::new_v4())
        .bind(status)
        .bind(offset)
        .execute(&pool)
        .await?;
    }
    let count: i64 = sqlx::query_scalar(query).fetch_one(&pool).await?;
    pool.close().await;
    db.drop_database().await;
    assert_eq!(count, 3, "{query}");
    Ok(())
}

#[test]
fn dashboard_queries_only_catalogued_metrics() -> anyhow::Result<()> {
    let path = repo().join("deploy/grafana/sigmasight.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    ensure!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    let vars = dashboard["templating"]["list"]
        .as_array()
        .context("templating")?;
    ensure!(vars.iter().any(|v| v["type"] == "datasource"
        && v["query"] == "prometheus"
        && v["name"] == "datasource"));

    let mut ids = BTreeSet::new();
    let mut used = BTreeSet::new();
    for panel in dashboard["panels"].as_array().context("panels")? {
        ensure!(
            ids.insert(panel["id"].as_u64().context("panel id")?),
            "id twice"
        );
        if panel["type"] == "row" {
            continue;
        }
        ensure!(
            panel["datasource"]["uid"] == "${datasource}",
            "{}",
            panel["title"]
        );
        let targets = panel["targets"].as_array().context("targets")?;
        ensure!(!targets.is_empty(), "{} has no query", panel["title"]);
        for t in targets {
            let expr = t["expr"].as_str().context("expr")?;
            for series in metric_names(expr) {
                used.insert(catalogued(&series)?);
            }
        }
    }
    // The panels the issue asks for are there.
    for name in [
        metrics::QUEUE_DUE,
        metrics::QUEUE_OLDEST_AGE,
        metrics::RUNS,
        metrics::RUNS_FINISHED,
        metrics::PHASE_DURATION,
        metrics::PROVIDER_REQUESTS,
        metrics::TAKEOVERS,
        metrics::LEASES_LOST,
        metrics::PANICS,
        metrics::HTTP_DURATION,
        metrics::HTTP_REQUESTS,
        metrics::SSE_OPEN,
    ] {
        ensure!(used.contains(name), "the dashboard does not show {name}");
    }
    Ok(())
}

/// The catalogue's name of a queried series: histograms only through `_bucket`, `_sum` or
/// `_count` (Prometheus has no series under the bare name), other kinds only as named.
fn catalogued(series: &str) -> anyhow::Result<&'static str> {
    if let Some(m) = metrics::by_name(series) {
        ensure!(
            m.kind != Kind::Histogram,
            "{series} is a histogram: query _bucket/_sum/_count"
        );
        return Ok(m.name);
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(m) = series.strip_suffix(suffix).and_then(metrics::by_name) {
            ensure!(
                m.kind == Kind::Histogram,
                "{series}: {} is no histogram",
                m.name
            );
            return Ok(m.name);
        }
    }
    bail!("{series} is not in sigmasight_shared::metrics::ALL")
}
