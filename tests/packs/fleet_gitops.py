"""An independent check of GitOps files with the rules Fleet's own parser
applies (`fleetctl gitops`, Fleet 4.82 and later): pkg/spec/gitops.go,
gitops_deprecations.go, gitops_validate.go, server/fleet/policies.go and the
label, report and script handling of cmd/fleetctl gitops. Only the rules are
taken from there; messages are Fleet's wording so that a failure here reads
like the one fleetctl would print.

check(paths, env) takes the files given to `fleetctl gitops -f` and returns
the list of errors (empty when Fleet would accept them). Labels that already
exist on the server can be passed as `existing_labels`.
"""

import os
import posixpath
import re

import yaml

TOP_KEYS = {"name", "settings", "org_settings", "agent_options", "controls", "policies", "reports",
            "software", "labels", "custom_host_vitals"}
DEPRECATED_TOP = {"team_settings": "settings", "queries": "reports"}

POLICY_KEYS = {"path", "paths", "name", "query", "description", "resolution", "platform", "critical",
               "calendar_events_enabled", "labels_include_any", "labels_include_all", "labels_exclude_any",
               "labels_exclude_all", "conditional_access_enabled", "continuous_automations_enabled", "type",
               "fleet_maintained_app_slug", "run_script", "install_software", "resend_configuration_profile",
               "webhooks_and_tickets_enabled", "team", "fleet", "software_title_id", "script_id",
               "patch_when_closed"}
REPORT_KEYS = {"path", "paths", "name", "description", "query", "team", "fleet", "interval", "observer_can_run",
               "platform", "min_osquery_version", "automations_enabled", "logging", "discard_data",
               "labels_include_any"}
LABEL_KEYS = {"path", "paths", "name", "description", "query", "platform", "label_membership_type", "hosts",
              "criteria", "id", "label_type"}
AGENT_OPTION_KEYS = {"config", "overrides", "command_line_flags", "extensions", "update_channels",
                     "script_execution_timeout"}
EXTENSION_KEYS = {"channel", "platform", "labels"}
# fleetd's platform values (server/fleet/orbit.go FilterByHostPlatform): an
# entry with another value is dropped for every host.
EXTENSION_PLATFORMS = {"macos", "linux", "linux-arm64", "windows", "windows-arm64"}
PLATFORMS = {"windows", "linux", "darwin", "chrome"}
LOGGING = {"snapshot", "differential", "differential_ignore_removals"}
MEMBERSHIP = {"dynamic", "manual", "host_vitals"}
BUILTIN_LABELS = {"All Hosts", "macOS", "Ubuntu Linux", "CentOS Linux", "MS Windows", "Red Hat Linux",
                  "All Linux", "chrome", "iOS", "iPadOS", "Fedora Linux", "Android", "Debian Linux"}
SCRIPT_EXTENSIONS = {".sh", ".ps1", ".py"}
GLOB = re.compile(r"[*?\[{]")
VAR = re.compile(r"(\\?)\$(\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
EXCLUDED = re.compile(r"^\s*-?\s*(description|resolution):")


def expand_env(text, env, errors):
    """$VAR and ${VAR}: unset is an error, \\$ escapes, $FLEET_VAR_* is left
    for the server, $FLEET_SECRET_* is refused; description and resolution
    values are not expanded."""
    out = []
    for line in text.splitlines(keepends=True):
        if EXCLUDED.match(line):
            out.append(line)
            continue

        def one(m):
            if m.group(1):
                return m.group(0)[1:]
            name = m.group(3) or m.group(4)
            if name.upper().startswith("FLEET_VAR_"):
                return m.group(0)
            if name.upper().startswith("FLEET_SECRET_"):
                errors.append('environment variables with "FLEET_SECRET_" prefix are only allowed in profiles '
                              f'and scripts: "{name}"')
                return m.group(0)
            if name not in env:
                errors.append(f'environment variable "{name}" not set')
                return m.group(0)
            return env[name]

        out.append(VAR.sub(one, line))
    return "".join(out)


def load(path, env, errors):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        errors.append(f"failed to read {path}: {e}")
        return None
    return yaml.safe_load(expand_env(text, env, errors))


def unknown_keys(item, allowed, where, path, errors):
    if not isinstance(item, dict):
        errors.append(f'Couldn\'t edit "{path}" at "{where}", expected type object but got {type(item).__name__}')
        return
    for key in item:
        if key not in allowed:
            errors.append(f'unknown key "{where}.{key}" in "{path}"')


def expand_items(items, section, base_dir, top, env, errors):
    """A list section's items, inline or from `path:` files (each a list,
    whose items must not use `path` again); yields (item, file, dir)."""
    if items is None:
        return
    if not isinstance(items, list):
        errors.append(f'Couldn\'t edit "{top}" at "{section}", expected type list but got object')
        return
    for item in items:
        if isinstance(item, dict) and ("path" in item or "paths" in item):
            if "path" in item and "paths" in item:
                errors.append(f'{section} entry cannot have both "path" and "paths" fields')
                continue
            if "paths" in item:
                if not GLOB.search(item["paths"]):
                    errors.append(f'{section} "paths" "{item["paths"]}" does not contain glob characters; '
                                  'use "path" for a specific file')
                # Globs are not used by postern's files.
                errors.append(f"{section}: paths globs are not checked here")
                continue
            ref = posixpath.normpath(posixpath.join(base_dir, item["path"]))
            if GLOB.search(item["path"]) and not os.path.exists(ref):
                errors.append(f'{section} "path" "{item["path"]}" contains glob characters; use "paths" for '
                              'glob patterns')
                continue
            if not os.path.isfile(ref):
                errors.append(f"failed to read {section} file {item['path']}: no such file")
                continue
            content = load(ref, env, errors)
            if not isinstance(content, list):
                errors.append(f'Couldn\'t edit "{ref}" at "{section}", expected type list but got object')
                continue
            for inner in content:
                if isinstance(inner, dict) and "path" in inner:
                    errors.append(f"nested paths are not supported: {inner['path']} in {ref}")
                    continue
                yield inner, ref, posixpath.dirname(ref)
        else:
            yield item, top, base_dir


def platforms_ok(value):
    if value in (None, ""):
        return True
    return all(p.strip() in PLATFORMS for p in str(value).split(","))


def check(paths, env=None, existing_labels=()):
    env = dict(env or {})
    errors = []
    labels_defined = {}
    label_uses = []  # (label, kind, name)
    for top in paths:
        base_dir = posixpath.dirname(top)
        doc = load(top, env, errors)
        if doc is None:
            continue
        if not isinstance(doc, dict):
            errors.append(f"{top}: expected a map at the top level")
            continue
        for old, new in DEPRECATED_TOP.items():
            if old in doc:
                if new in doc:
                    errors.append(f"cannot specify both '{old}' (deprecated) and '{new}'; use only '{new}'")
                doc[new] = doc.pop(old)
        for key in doc:
            if key not in TOP_KEYS:
                errors.append(f"unknown top-level field: {key}")
        is_global = "org_settings" in doc
        if is_global and ("name" in doc or "settings" in doc):
            errors.append("'org_settings' cannot be used with 'name', 'settings'")
        if not is_global and "name" not in doc:
            errors.append(f"No `name` was provided in {top}. If this file is intended to define org-level settings, "
                          "add `org_settings:` as a top-level key. Otherwise, use `name` to specify the fleet name.")
            continue
        fleet = None if is_global else str(doc["name"]).strip()
        if fleet == "":
            errors.append("team 'name' is required")
        if is_global and doc.get("software") is not None:
            errors.append("'software' cannot be set on global file")
        if not is_global and "custom_host_vitals" in doc:
            errors.append("'custom_host_vitals' cannot be set on a team file")

        # agent_options, with fleetd's extensions.
        options = doc.get("agent_options") or {}
        unknown_keys(options, AGENT_OPTION_KEYS, "agent_options", top, errors)
        for ext_name, ext in ((options.get("extensions") or {}) if isinstance(options, dict) else {}).items():
            unknown_keys(ext, EXTENSION_KEYS, f"agent_options.extensions.{ext_name}", top, errors)
            if not isinstance(ext, dict):
                continue
            if ext.get("platform") not in EXTENSION_PLATFORMS:
                errors.append(f"extension {ext_name}: platform {ext.get('platform')!r} is none of fleetd's "
                              f"{sorted(EXTENSION_PLATFORMS)}")
            if not ext.get("channel"):
                errors.append(f"extension {ext_name}: no channel")
            if any(c in ext_name for c in ("..", "/", "\\")):
                errors.append(f"extension {ext_name}: invalid characters found in filename")
            for label in ext.get("labels") or []:
                label_uses.append((label, "Extension", ext_name))

        # controls.scripts: resolved relative to this file's directory.
        scripts = set()
        controls = doc.get("controls") or {}
        basenames = {}
        for item in (controls.get("scripts") or []) if isinstance(controls, dict) else []:
            if not isinstance(item, dict) or not ("path" in item or "paths" in item):
                errors.append('script entry has no "path" or "paths" field; check for a stray "-" in the list')
                continue
            resolved = posixpath.normpath(posixpath.join(base_dir, item.get("path", "")))
            if posixpath.splitext(resolved)[1].lower() not in SCRIPT_EXTENSIONS:
                errors.append(f"script {resolved}: not .sh, .ps1 or .py")
            if not os.path.isfile(resolved):
                errors.append(f"failed to read scripts file {resolved}")
            base = posixpath.basename(resolved)
            if base in basenames:
                errors.append(f'duplicate script basename "{base}" (from "{basenames[base]}" and "{resolved}")')
            basenames[base] = resolved
            scripts.add(resolved)

        # labels
        names = set()
        for label, _file, _dir in expand_items(doc.get("labels"), "labels", base_dir, top, env, errors):
            unknown_keys(label, LABEL_KEYS, "labels", top, errors)
            name = label.get("name") if isinstance(label, dict) else None
            if not name:
                errors.append("name is required for each label")
                continue
            if not name.isascii():
                errors.append(f"label name must be in ASCII: {name}")
            if name in names:
                errors.append(f"duplicate label names: [{name}]")
            names.add(name)
            kind = label.get("label_membership_type", "dynamic")
            if kind not in MEMBERSHIP:
                errors.append(f'invalid LabelMembershipType: "{kind}"')
            if kind == "dynamic" and not label.get("query"):
                errors.append(f"label {name}: a dynamic label needs a query")
            if name in labels_defined:
                errors.append(f'can\'t add label "{name}" to "{top}", as it is already being added in '
                              f'"{labels_defined[name]}"')
            labels_defined[name] = top

        # policies
        seen = set()
        for policy, pfile, pdir in expand_items(doc.get("policies"), "policies", base_dir, top, env, errors):
            unknown_keys(policy, POLICY_KEYS, "policies", pfile, errors)
            if not isinstance(policy, dict):
                continue
            name = policy.get("name")
            if not name:
                errors.append("policy name is required for each policy")
                continue
            if not policy.get("query") and policy.get("type") != "patch":
                errors.append("policy query is required for each policy")
            if name in seen:
                errors.append(f"duplicate policy names: [{name}]")
            seen.add(name)
            if not platforms_ok(policy.get("platform")):
                errors.append("invalid policy platform")
            includes = [k for k in ("labels_include_any", "labels_include_all") if k in policy]
            excludes = [k for k in ("labels_exclude_any", "labels_exclude_all") if k in policy]
            if len(includes) > 1:
                errors.append("policy can include at most one of labels_include_any or labels_include_all")
            if len(excludes) > 1:
                errors.append("policy can include at most one of labels_exclude_any or labels_exclude_all")
            if "labels_include_any" in policy and "labels_exclude_any" in policy:
                errors.append(f"Policy '{name}' has multiple label keys; please choose one of "
                              "`labels_include_any`, `labels_exclude_any`.")
            for key in ("labels_include_any", "labels_exclude_any"):
                for label in policy.get(key) or []:
                    label_uses.append((label, "Policy", name))
            run = policy.get("run_script")
            if run is not None:
                prefix = f'failed to parse policy run_script "{name}": '
                if is_global:
                    errors.append(prefix + "run_script can only be set on team policies")
                    continue
                if not run.get("path"):
                    errors.append(prefix + "empty run_script path")
                    continue
                resolved = posixpath.normpath(posixpath.join(pdir, run["path"]))
                if not os.path.exists(resolved):
                    errors.append(prefix + f'script file does not exist "{resolved}"')
                elif resolved not in scripts:
                    errors.append(prefix + f"policy script {resolved} was not defined in controls for {fleet}")

        # reports
        seen = set()
        for i, (report, rfile, _rdir) in enumerate(
                expand_items(doc.get("reports"), "reports", base_dir, top, env, errors)):
            unknown_keys(report, REPORT_KEYS, "reports", rfile, errors)
            if not isinstance(report, dict):
                continue
            name = report.get("name")
            if not name:
                errors.append(f"`name` is required for each report in {rfile} at reports[{i}]")
                continue
            if not report.get("query"):
                errors.append(f"`query` is required for each report in {rfile} at reports[{i}]")
            if not name.isascii():
                errors.append(f"`name` must be in ASCII: {name} in {rfile} at reports[{i}]")
            if name in seen:
                errors.append(f"duplicate report names: [{name}]")
            seen.add(name)
            if report.get("logging", "snapshot") not in LOGGING:
                errors.append("invalid logging value, must be one of 'snapshot', 'differential', "
                              "'differential_ignore_removals'")
            if not platforms_ok(report.get("platform")):
                errors.append("query's platform must be a comma-separated list of 'darwin', 'linux', 'windows', "
                              "and/or 'chrome' in a single string")
            for label in report.get("labels_include_any") or []:
                label_uses.append((label, "Query", name))

    known = set(labels_defined) | set(existing_labels)
    for label, kind, name in label_uses:
        if label in BUILTIN_LABELS:
            errors.append(f"[!] '{label}' label is built-in. Only custom labels are supported.")
        elif label not in known:
            errors.append(f"[!] Unknown label '{label}' is referenced by {kind} '{name}'")
    return errors
