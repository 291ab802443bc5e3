"""The gallery page end to end in a real headless browser: Debian's chromium driven by Selenium through
Debian's chromedriver (nothing downloads a browser). A token is entered, ciphertexts are uploaded through
the form, and the page shows them grouped by the class the service gave them; a non-ciphertext is refused
with the server's message. Skipped, with the reason, where chromium, chromedriver or selenium is absent."""

import httpx
import pytest
from service_support import Server, chromium_paths, toy_set

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
    server = Server(db, toy_set()["models"]["classifier"], str(d / "server.log"))
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
