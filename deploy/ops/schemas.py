"""Prepare JSON schemas for kubeconform from sources that need no network at test time.

    schemas.py kubernetes WHEEL VERSION DEST  # from the kubernetes-validate wheel (PyPI)
    schemas.py crds DEST CRD.yaml...     # from CustomResourceDefinitions (Strimzi's own)

kubernetes-validate ships the Kubernetes OpenAPI as JSON schemas whose ``$ref``s point at
``/api/_definitions.json`` and which declare a ``$schema`` that kubeconform would try to
download; both are rewritten so the files resolve beside each other. CRD schemas are made
strict the way the API server's structural pruning is: an object that lists properties
and does not preserve unknown fields rejects fields it does not know.
The wheel is only read as a zip file (never installed); ``crds`` needs PyYAML.
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any


def kubernetes(wheel: Path, version: str, dest: Path) -> None:
    prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        members = [n for n in archive.namelist() if n.startswith(prefix) and n.endswith(".json")]
        if not members:
            raise SystemExit(f"{wheel.name} has no schemas for Kubernetes {version}")
        for name in members:
            text = archive.read(name).decode().replace('"/api/_definitions.json#', '"_definitions.json#')
            doc = json.loads(text)
            doc.pop("$schema", None)
            (dest / name.removeprefix(prefix)).write_text(json.dumps(doc))
    print(f"schemas.py: {len(list(dest.glob('*.json')))} Kubernetes {version} schemas in {dest}")


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        if (node.get("type") == "object" and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")):
            node["additionalProperties"] = False
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)
    return node


def crds(dest: Path, files: list[Path]) -> None:
    import yaml

    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    for path in files:
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            kind = crd["spec"]["names"]["kind"].lower()
            for version in crd["spec"]["versions"]:
                schema = _strict(version["schema"]["openAPIV3Schema"])
                (dest / f"{kind}_{version['name']}.json").write_text(json.dumps(schema))
                count += 1
    print(f"schemas.py: {count} CRD schemas in {dest}")


def main(argv: list[str]) -> None:
    if len(argv) == 4 and argv[0] == "kubernetes":
        kubernetes(Path(argv[1]), argv[2], Path(argv[3]))
    elif len(argv) >= 3 and argv[0] == "crds":
        crds(Path(argv[1]), [Path(p) for p in argv[2:]])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
