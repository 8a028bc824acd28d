"""The generated Fleet files pass the rules of Fleet's GitOps parser
(fleet_gitops.py), in the places DEPLOY.md says to use them, and the checker
is as strict as fleetctl: each file changed the way a user could get it wrong
is refused with Fleet's message."""

import os
import shutil

import pytest
import yaml

from fleet_gitops import check
from packlib import REPO, enabled_extensions

FLEET = os.path.join(REPO, "fleet")
EXAMPLE = os.path.join(FLEET, "example", "workstations.yml")
ENV = {"POSTERN_FLEET_ENROLL_SECRET": "s3cret"}
GLOBAL = """org_settings:
  server_settings:
    server_url: https://fleet.example.com
  org_info:
    org_name: Example
  secrets:
    - secret: $GLOBAL_SECRET
agent_options:
  config:
    options:
      distributed_interval: 10
labels:
  - path: ./labels.yml
policies:
  - path: ./{policies}
reports:
  - path: ./reports.yml
"""


def copy_repo(tmp_path):
    """The fleet/ and scripts/ folders as a GitOps repository vendors them."""
    shutil.copytree(FLEET, tmp_path / "fleet")
    shutil.copytree(os.path.join(REPO, "scripts", "remediation"), tmp_path / "scripts" / "remediation")
    return tmp_path


def rel(path):
    return os.path.relpath(path, os.getcwd())


def test_the_example_fleet_file_is_accepted(monkeypatch):
    # fleetctl resolves against the -f file's directory, given relative or absolute.
    assert check([EXAMPLE], ENV) == []
    monkeypatch.chdir(REPO)
    assert check(["fleet/example/workstations.yml"], ENV) == []


def test_the_global_policies_are_accepted_in_default_yml(tmp_path):
    repo = copy_repo(tmp_path)
    default = repo / "fleet" / "default.yml"
    default.write_text(GLOBAL.format(policies="policies.yml"))
    assert check([str(default)], {"GLOBAL_SECRET": "x"}) == []


def test_run_script_policies_are_refused_in_default_yml(tmp_path):
    repo = copy_repo(tmp_path)
    default = repo / "fleet" / "default.yml"
    default.write_text(GLOBAL.format(policies="fleet-policies.yml"))
    errors = check([str(default)], {"GLOBAL_SECRET": "x"})
    assert errors and all("run_script can only be set on team policies" in e for e in errors), errors


def test_a_script_missing_from_controls_is_refused(tmp_path):
    repo = copy_repo(tmp_path)
    example = repo / "fleet" / "example" / "workstations.yml"
    text = example.read_text()
    example.write_text("\n".join(l for l in text.splitlines() if "restart-edr.sh" not in l) + "\n")
    errors = check([str(example)], ENV)
    want = f"policy script {repo}/scripts/remediation/restart-edr.sh was not defined in controls for Workstations"
    assert [e for e in errors if want in e] and len(errors) == 1, errors


def test_scripts_vendored_elsewhere_do_not_match(tmp_path):
    """run_script paths resolve from the policies file, controls from the
    fleet file: moving one without the other is caught."""
    repo = copy_repo(tmp_path)
    shutil.move(str(repo / "scripts"), str(repo / "fleet" / "scripts"))
    errors = check([str(repo / "fleet" / "example" / "workstations.yml")], ENV)
    assert any("script file does not exist" in e for e in errors), errors
    assert any("failed to read scripts file" in e for e in errors), errors


def test_the_label_must_be_defined_somewhere(tmp_path):
    repo = copy_repo(tmp_path)
    example = repo / "fleet" / "example" / "workstations.yml"
    example.write_text(example.read_text().replace("labels:\n  - path: ../labels.yml\n", ""))
    errors = check([str(example)], ENV)
    assert any("Unknown label 'postern loaded' is referenced by Policy" in e for e in errors), errors
    assert any("Unknown label 'postern loaded' is referenced by Query" in e for e in errors), errors
    # Defined on the server already (for example in default.yml): accepted.
    assert check([str(example)], ENV, existing_labels={"postern loaded"}) == []


def test_the_label_defined_twice_is_refused(tmp_path):
    repo = copy_repo(tmp_path)
    example = repo / "fleet" / "example" / "workstations.yml"
    default = repo / "fleet" / "default.yml"
    default.write_text(GLOBAL.format(policies="policies.yml"))
    errors = check([str(default), str(example)], dict(ENV, GLOBAL_SECRET="x"))
    assert any("can't add label \"postern loaded\"" in e for e in errors), errors


def test_unset_secrets_unknown_keys_and_old_key_names(tmp_path):
    repo = copy_repo(tmp_path)
    example = repo / "fleet" / "example" / "workstations.yml"
    assert 'environment variable "POSTERN_FLEET_ENROLL_SECRET" not set' in check([str(example)], {})
    policies = repo / "fleet" / "fleet-policies.yml"
    items = yaml.safe_load(policies.read_text())
    items[1]["calendar_event_enabled"] = True  # the old docs' spelling
    items[2]["platform"] = "linux,macos"
    policies.write_text(yaml.safe_dump(items))
    errors = check([str(example)], ENV)
    assert f'unknown key "policies.calendar_event_enabled" in "{policies}"' in errors, errors
    assert "invalid policy platform" in errors, errors
    # Pre-4.82 names are aliases; both at once is an error.
    text = example.read_text().replace("reports:\n", "queries:\n")
    example.write_text(text)
    assert [e for e in check([str(example)], ENV) if "Unknown label" not in e
            and "policies." not in e and "platform" not in e] == []
    example.write_text(text + "reports: []\n")
    assert "cannot specify both 'queries' (deprecated) and 'reports'; use only 'reports'" in \
        check([str(example)], ENV)


def test_path_files_must_be_lists_without_nested_paths(tmp_path):
    repo = copy_repo(tmp_path)
    (repo / "fleet" / "reports.yml").write_text("- path: other.yml\n")
    (repo / "fleet" / "labels.yml").write_text("name: postern loaded\nquery: SELECT 1;\n")
    errors = check([str(repo / "fleet" / "example" / "workstations.yml")], ENV)
    assert any("nested paths are not supported" in e for e in errors), errors
    assert any("expected type list" in e for e in errors), errors


def test_extensions_name_fleetd_platforms(tmp_path):
    repo = copy_repo(tmp_path)
    example = repo / "fleet" / "example" / "workstations.yml"
    example.write_text(example.read_text().replace('platform: "linux"', 'platform: "ubuntu"'))
    errors = check([str(example)], ENV)
    assert any("extension postern_linux: platform 'ubuntu'" in e for e in errors), errors


def test_every_commented_extension_is_valid_once_enabled():
    """The arm64 and macOS entries, uncommented, pass too."""
    extensions = enabled_extensions()
    assert sorted(extensions) == ["postern_linux", "postern_linux_arm64", "postern_macos"]
    for name, ext in extensions.items():
        assert ext["platform"] in {"linux", "linux-arm64", "macos"} and ext["channel"] == "stable", name


@pytest.mark.parametrize("name", ["labels.yml", "reports.yml", "policies.yml", "fleet-policies.yml"])
def test_every_list_file_is_a_list(name):
    with open(os.path.join(FLEET, name)) as f:
        assert isinstance(yaml.safe_load(f), list)
