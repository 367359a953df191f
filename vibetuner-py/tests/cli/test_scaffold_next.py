"""The scaffold's last line says what to run next, and nothing that may not hold."""

import subprocess
import sys
from pathlib import Path

VIBETUNER = str(Path(sys.executable).parent / "vibetuner")


def test_next_names_the_command_and_no_port(tmp_path: Path) -> None:
    """`make demo DEMO_PORT=8001` scaffolds, then serves on 8001: a port named here was wrong."""
    result = subprocess.run(
        [VIBETUNER, "scaffold", "new", "my-app", "--defaults", "--no-install", "--no-git"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert "Next: cd my-app && .venv/bin/vibetuner run dev" in last
    assert ":8000" not in result.stderr + result.stdout


def test_answers_the_template_does_not_ask_are_refused(tmp_path: Path) -> None:
    """copier takes an unknown key silently and reads any word as yes: a typo gave an app
    built from defaults, or with jobs someone said `fasle` to."""
    for data, said in (
        ("projet_name=Typo App", "The template asks no 'projet_name'"),
        ("background_jobs=fasle", "background_jobs is yes or no, not 'fasle'"),
        ("oauth_providers=[google", "is not a list like [google, github]"),
    ):
        result = subprocess.run(
            [VIBETUNER, "scaffold", "new", "app", "--defaults", "--no-install", "--no-git",
             "--data", data],
            cwd=tmp_path, capture_output=True, text=True,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "300"},
        )  # fmt: skip
        assert result.returncode == 2 and said in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / "app").exists()


def test_answers_with_quotes_backslashes_and_hashes_stay_exact(tmp_path: Path) -> None:
    """Names are written into .env, pyproject.toml and the Kubernetes config: each reads
    back exactly what was answered (a quote broke .env, a backslash pyproject.toml, and a
    `#` or `: ` cut or broke the Kubernetes config)."""
    import tomllib

    import yaml  # type: ignore[import-untyped]
    from dotenv import dotenv_values

    from vibetuner.config._read import env_file_lines

    name, about, author = 'The "Best" \\ Shop #1: Q&A', 'Notes \\ "todo" #2', 'Ann "A" O\\Neil'
    data = [f"project_name={name}", f"project_description={about}", f"author_name={author}",
            "fqdn=app.example.com", "kubernetes=true"]  # fmt: skip
    result = subprocess.run(
        [VIBETUNER, "scaffold", "new", "app", "--defaults", "--no-install", "--no-git",
         *(arg for pair in data for arg in ("--data", pair))],
        cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "300"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    app = tmp_path / "app"
    env_file = app / ".env"
    env_file_lines(env_file)  # every line is NAME=value
    assert dotenv_values(env_file)["PROJECT_NAME"] == name
    project = tomllib.loads((app / "pyproject.toml").read_text())["project"]
    assert project["description"] == about and project["authors"][0]["name"] == author
    k8s = app / "deploy" / "k8s"
    base = yaml.safe_load((k8s / "base" / "kustomization.yaml").read_text())
    prod = yaml.safe_load((k8s / "overlays" / "prod" / "kustomization.yaml").read_text())
    literals = [item for config in (base, prod) for generated in config["configMapGenerator"]
                for item in generated.get("literals", [])]  # fmt: skip
    assert f"PROJECT_NAME={name}" in literals
    assert f"MAIL_FROM={name} <no-reply@app.example.com>" in literals


def test_next_names_the_folder_as_typed_and_says_when_there_is_no_git(tmp_path: Path) -> None:
    """`cd c` for a/b/c, or an unquoted name with a space, was a wrong next step; without
    git, "✓ git init" made no repository and nothing said so."""
    result = subprocess.run(
        [VIBETUNER, "scaffold", "new", "a/b/Ünï app", "--defaults", "--no-install"],
        cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": str(tmp_path / "no-tools"), "HOME": str(tmp_path), "COLUMNS": "300"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Next: cd 'a/b/Ünï app' && " in result.stderr
    assert "git is not installed" in result.stderr and "git init" not in result.stderr.split(
        "git is not installed")[0]  # fmt: skip
    assert not (tmp_path / "a" / "b" / "Ünï app" / ".git").exists()
    (tmp_path / "taken").write_text("a file, not a folder")
    taken = subprocess.run(
        [VIBETUNER, "scaffold", "new", "taken", "--defaults", "--no-install", "--no-git"],
        cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "COLUMNS": "300"},
    )  # fmt: skip
    assert taken.returncode == 1 and "already exists" in taken.stderr
    assert "Traceback" not in taken.stderr and "NotADirectoryError" not in taken.stderr
