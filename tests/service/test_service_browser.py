"""The gallery page end to end in a real headless browser: Debian's chromium driven by Selenium through
Debian's chromedriver (nothing downloads a browser). A token is entered, ciphertexts are uploaded through
the form, and the page shows them grouped by the class the service gave them; a non-ciphertext is refused
with the server's message; thumbnails keep their aspect ratio and the page asks for no favicon. Skipped, with
the reason, where chromium, chromedriver or selenium is absent."""
import io
import os

import httpx
import numpy as np
import pytest
from PIL import Image
from service_support import Server, chromium_paths, encrypt, toy_set

from ric.service.store import open_store


@pytest.fixture(scope="module")
def browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    paths = chromium_paths()
    if paths is None:
        pytest.skip("no system chromium + chromedriver (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = paths[0]
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1200,900"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(executable_path=paths[1]), options=opts)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    d = tmp_path_factory.mktemp("gallery")
    db = f"sqlite:///{d}/store.db"
    store = open_store(db)
    token = store.create_token("browser")
    store.close()
    server = Server(db, toy_set()["models"]["classifier"], str(d / "server.log"), "--log-level", "info")
    yield server.url, token, d
    server.stop()


def test_gallery_uploads_and_groups_by_class(browser, site):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    url, token, d = site
    ct = toy_set()
    browser.get(url + "/")
    wait = WebDriverWait(browser, 30)
    assert "token" in browser.find_element(By.ID, "status").text
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.ID, "use-token").click()
    wait.until(lambda b: "empty" in b.find_element(By.ID, "gallery").text)

    browser.find_element(By.ID, "files").send_keys("\n".join(ct["enc"]))
    browser.find_element(By.ID, "upload-button").click()
    wait.until(lambda b: b.find_element(By.ID, "status").text.startswith("Uploaded 6"))
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "figure")) == 6)

    sections = {s.get_attribute("data-label"): s for s in browser.find_elements(By.CSS_SELECTOR, "section.class")}
    assert sorted(sections) == ["0", "2"]
    for label, sec in sections.items():
        names = sorted(f.text.split("\n")[0] for f in sec.find_elements(By.TAG_NAME, "figcaption"))
        want = sorted(n for n, lab in ct["expected"].items() if lab == int(label))
        assert names == want
        assert sec.find_element(By.TAG_NAME, "h2").text.startswith(ct["classes"][int(label)])
        assert sec.find_element(By.CSS_SELECTOR, ".count").text == str(len(want))
    # every thumbnail is the stored ciphertext, decoded by the browser (16x16 pixels)
    wait.until(lambda b: b.execute_script(
        "return [...document.images].every(i => i.complete && i.naturalWidth === 16)"))
    api = httpx.get(url + "/api/images", headers={"Authorization": f"Bearer {token}"}).json()
    assert len(api["items"]) == 6

    bad = d / "notes.png"
    bad.write_bytes(b"not an image")
    browser.find_element(By.ID, "files").send_keys(str(bad))
    browser.find_element(By.ID, "upload-button").click()
    wait.until(lambda b: b.find_element(By.ID, "status").text.startswith("Upload refused"))
    status = browser.find_element(By.ID, "status")
    assert "notes.png: not a valid RIC ciphertext" in status.text and status.get_attribute("class") == "error"

    first = browser.find_elements(By.CSS_SELECTOR, "figure")[0]
    gone = first.get_attribute("data-id")
    first.find_element(By.CSS_SELECTOR, "button.delete").click()
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "figure")) == 5)
    left = httpx.get(url + "/api/images", headers={"Authorization": f"Bearer {token}"}).json()["items"]
    assert len(left) == 5 and int(gone) not in [x["id"] for x in left]
    browser.save_screenshot(str(d / "gallery.png"))


BACKGROUND = (238, 238, 238)      # #eee, the thumbnail box behind a letterboxed image


def test_thumbnails_keep_their_aspect_ratio_and_no_favicon_is_requested(browser, site):
    """A 32x16 ciphertext fills the 96x96 box's width and 48 rows of its middle (the bands above and below are the
    box's background), a square one fills the box; the page's favicon is inline, so the server is never asked for
    /favicon.ico (its access log, on at --log-level info, shows the page and no favicon)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    url, _, d = site
    ct = toy_set()
    store = open_store(f"sqlite:///{d}/store.db")
    token = store.create_token("thumbnails")
    store.close()
    os.makedirs(d / "wide", exist_ok=True)
    noise = np.random.default_rng(3).integers(0, 256, (16, 32, 3), dtype=np.uint8)
    Image.fromarray(noise).save(d / "wide" / "wide.png")
    (wide,) = encrypt([str(d / "wide" / "wide.png")], str(d / "wide-enc"), ct["key"], ct["models"])
    files = [("files", (os.path.basename(p), open(p, "rb").read(), "image/png")) for p in (wide, ct["enc"][0])]
    up = httpx.post(url + "/api/images", files=files, headers={"Authorization": f"Bearer {token}"})
    assert up.status_code == 201, up.text

    browser.get(url + "/")
    box = browser.find_element(By.ID, "token")
    box.clear()
    box.send_keys(token)
    browser.find_element(By.ID, "use-token").click()
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "figure")) == 2)
    wait.until(lambda b: b.execute_script("return [...document.images].every(i => i.complete && i.naturalWidth)"))
    shots = {}
    for fig in browser.find_elements(By.CSS_SELECTOR, "figure"):
        img = fig.find_element(By.TAG_NAME, "img")
        name = fig.find_element(By.TAG_NAME, "figcaption").text
        shots[name] = np.asarray(Image.open(io.BytesIO(img.screenshot_as_png)).convert("RGB"))
    w = shots.pop("wide.png")
    h, width = w.shape[:2]
    assert (h, width) == (96, 96), w.shape
    band = (h - h * 16 // 32) // 2          # 24 rows above and below a 96x48 image
    is_bg = (w == BACKGROUND).all(axis=2)
    assert is_bg[:band - 1].all() and is_bg[h - band + 1:].all()
    assert not is_bg[band + 1:h - band - 1].all(axis=1).any()     # every row of the image itself shows it
    (square,) = shots.values()
    assert not (square == BACKGROUND).all(axis=2).all(axis=1).any()   # no background band: it fills the box

    log = open(d / "server.log").read()
    assert '"GET / HTTP/1.1" 200' in log
    assert "favicon" not in log
