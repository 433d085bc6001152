"""Make the project's SLURM profile resolvable by name: `snakemake --profile slurm`.

Snakemake looks up a profile name in the working directory, then in the user's and the site's Snakemake
config directories (~/.config/snakemake, /etc/xdg/snakemake). `install` links profiles/slurm there as
`slurm` (the snakemake-profiles convention); `make setup` runs it. An existing, different `slurm` profile is
left alone (with a message): use `--profile <this repo>/profiles/slurm` then.

    python -m xlt.workflow.slurm_profile install [--name slurm]"""
from __future__ import annotations

import argparse
from pathlib import Path

PROFILE = Path(__file__).resolve().parents[2] / "profiles" / "slurm"


def user_profile_dir() -> Path:
    from snakemake.cli import get_appdirs  # the directory Snakemake itself searches

    return Path(get_appdirs().user_config_dir)


def install(name: str = "slurm", config_dir: Path | None = None, profile: Path = PROFILE) -> Path:
    """Link `profile` as <config_dir>/<name>; returns the link. Idempotent."""
    link = (config_dir or user_profile_dir()) / name
    if link.is_symlink() and link.resolve() == profile.resolve():
        return link
    if link.exists() or link.is_symlink():
        print(f"A Snakemake profile named {name!r} already exists at {link}; not replacing it. Use "
              f"`--profile {profile}` for this project's profile, or remove {link} and run this again.")
        return link
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(profile.resolve(), target_is_directory=True)
    print(f"`snakemake --profile {name}` now uses {profile} (linked from {link}).")
    return link


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["install"])
    p.add_argument("--name", default="slurm")
    args = p.parse_args(argv)
    install(args.name)


if __name__ == "__main__":
    main()
