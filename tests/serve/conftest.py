"""The page's fixtures: the bundled model loaded once, small photos made here, and a live server
(Gradio mounted on FastAPI, run by uvicorn in a thread on a free loopback port)."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import skimage.data
from PIL import Image

from blur2video import Restorer
from blur2video.serve import OFFLINE_ENV, Limits, Service, serve_in_thread

# Small limits keep every case cheap on one core: a 400x400 photo is already "huge" (0.16 MP),
# and above 224x224 (the smallest tile restore makes) a photo is restored in tiles.
TEST_LIMITS = Limits(max_file_mb=0.3, max_megapixels=0.1, tile_pixels=224 * 224)


@pytest.fixture(scope="session")
def restorer() -> Restorer:
    return Restorer.from_pretrained("cpu")


def save_photo(path: Path, height: int = 96, width: int = 128) -> Path:
    """A crop of scikit-image's coffee photo, any size up to 400x600."""
    Image.fromarray(skimage.data.coffee()[: min(height, 400), : min(width, 600)]).resize((width, height)).save(path)
    return path


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return save_photo(tmp_path / "cup.png")


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if not p.is_dir())


@dataclass
class Live:
    url: str
    service: Service
    scratch: Path
    cwd: Path
    outbound: list[str]  # addresses the process tried to reach outside loopback while serving


_watching: list[list[str]] = []


def _audit(event: str, args: tuple) -> None:
    """Record connections and name look-ups that leave this machine (an audit hook cannot be
    removed, so it records only while a live server is up)."""
    if not _watching or event not in ("socket.connect", "socket.getaddrinfo"):
        return
    if event == "socket.connect":
        address = args[1]
        host = address[0] if isinstance(address, tuple) else str(address)
    else:
        host = str(args[0])
    try:
        local = host in ("localhost", "") or ipaddress.ip_address(host).is_loopback or host.startswith("/")
    except ValueError:
        local = False  # a name other than localhost: a look-up that would leave the machine
    if not local:
        _watching[-1].append(f"{event} {host}")


sys.addaudithook(_audit)


@pytest.fixture(scope="module")
def live(restorer: Restorer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """The page with TEST_LIMITS, served from a fresh working folder that must stay empty."""
    scratch = tmp_path_factory.mktemp("serve")
    cwd = tmp_path_factory.mktemp("cwd")
    outbound: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        for key, value in OFFLINE_ENV.items():  # before Gradio and its hub client read them
            mp.setenv(key, value)
        mp.setenv("GRADIO_TEMP_DIR", str(scratch / "gradio"))  # as serve does; restored afterwards
        pytest.importorskip("gradio", reason="the page needs Gradio: pip install -e '.[serve]'")
        pytest.importorskip("gradio_client", reason="the API tests need gradio_client (installed with Gradio)")
        mp.chdir(cwd)
        _watching.append(outbound)
        service = Service(restorer, TEST_LIMITS, scratch / "downloads")
        service.warm_up()
        url, stop = serve_in_thread(service, scratch)
        try:
            yield Live(url, service, scratch, cwd, outbound)
        finally:
            stop()
            service.close()
            _watching.remove(outbound)
