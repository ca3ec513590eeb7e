"""The archives SageMaker exchanges: model.tar.gz of a model directory, and the sourcedir.tar.gz of
script-mode code. training/launch.py uploads them; the stand-in's training jobs read and write them.
"""
import io
import tarfile
from pathlib import Path


def model_archive(model_dir: Path) -> bytes:
    """model.tar.gz as SageMaker makes it: the model directory's contents at the archive's root."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(model_dir.iterdir()):
            archive.add(path, arcname=path.name)
    return buffer.getvalue()


def source_archive(root: Path, entry_point_dir: str = "training", dependencies=("imaging", "monitoring")) -> bytes:
    """sourcedir.tar.gz as the SageMaker SDK packs a script-mode source_dir with dependencies:
    the source directory's files at the root, each dependency as a folder beside them."""
    buffer = io.BytesIO()
    skipped = ("__pycache__", ".pyc", "endpoint.json")
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted((root / entry_point_dir).rglob("*")):
            if path.is_file() and not any(part in str(path) for part in skipped):
                archive.add(path, arcname=str(path.relative_to(root / entry_point_dir)))
        for dependency in dependencies:
            for path in sorted((root / dependency).rglob("*.py")):
                if "__pycache__" not in str(path):
                    archive.add(path, arcname=str(path.relative_to(root)))
    return buffer.getvalue()
