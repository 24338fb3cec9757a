"""``rftgym report``: the HTML file's numbers are ``rftgym stats --json``'s, it is self-contained,
and it works in a real browser (headless Chromium: filters, an episode opened, a screenshot)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rftgym.report import write_report, write_run_report
from rftgym.trajectories import Trajectory, TrajectoryWriter, Turn
from rftgym.types import tool_call

ERRORS = 3  # episodes of make_file() that failed


def make_episode(task: int, sample: int, *, ok: bool | None = None, error: bool = False) -> Trajectory:
    """A two-turn tool episode; task t succeeds on samples < t (unless ``ok`` says), carries a
    db_diff; outcome 'style' is a dead channel."""
    ok = sample < task if ok is None else ok
    call = tool_call("lookup", {"order": f"#{task}"}, call_id=f"call_{task}_{sample}")
    messages = [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": f"Cancel order #{task} <b>now</b>"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "name": "lookup", "content": '{"status": "pending"}'},
        {"role": "assistant", "content": "Done." if ok else "I cannot."},
    ]
    turns = [
        Turn(
            message_index=2,
            reward=0.1,
            reward_components={"fmt": 1.0},
            tool_calls=1,
            usage={"prompt_tokens": 30, "completion_tokens": 12},
            policy_latency_s=0.5,
            env_latency_s=0.01,
        ),
        Turn(
            message_index=4,
            reward=0.1,
            reward_components={"fmt": 1.0},
            usage={"prompt_tokens": 50, "completion_tokens": 4},
            policy_latency_s=0.25,
        ),
    ]
    traj = Trajectory(
        id=f"task-{task}#{sample}", run_id="r", env_id="rftgym/Retail-v0", task_id=f"task-{task}",
        group_id=f"task-{task}", sample_index=sample, messages=messages, turns=turns,
        outcome_reward=float(ok), outcome_components={"db_match": float(ok), "style": 0.5}, reward=float(ok) + 0.2,
        terminated=True, termination_reason="user_stop" if ok else "max_turns", truncated=not ok,
        timings={"duration_s": 1.5}, metadata={"db_diff": [] if ok else [f"orders.#{task}.status: 'cancelled' != 'pending'"]},
    )  # fmt: skip
    if error:
        traj.turns, traj.messages, traj.reward, traj.outcome_reward = turns[:1], messages[:3], 0.0, 0.0
        traj.outcome_components, traj.termination_reason, traj.truncated = {"style": 0.5}, "error", False
        traj.error = {"type": "PolicyError", "message": "endpoint down"}
    return traj


def make_file(path: Path, tasks: int = 4, group: int = 4) -> Path:
    with TrajectoryWriter(path) as writer:
        for t in range(tasks):
            for s in range(group):
                writer.write(make_episode(t, s, error=t == 1 and s < ERRORS))
    return path


def rftgym(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "rftgym", *args], capture_output=True, text=True, check=True)
    return done.stdout


def value_at(summary: dict, key: str):
    for part in key.split("."):
        summary = summary[part]
    return summary


def test_report_numbers_are_the_stats_numbers_and_the_page_is_self_contained(tmp_path):
    runs = make_file(tmp_path / "a.jsonl")
    out = tmp_path / "report.html"
    rftgym("report", str(runs), "--out", str(out))
    page = out.read_text()
    stats = json.loads(rftgym("stats", str(runs), "--json"))
    cells = re.findall(r'data-key="([^"]+)" data-run="0" data-value="([^"]+)"', page.split("id='components'")[0])
    assert {k for k, _ in cells} >= {"episodes", "reward.mean", "pass_at_k.1.mean", "pass_hat_k.4.mean", "error_rate"}
    for key, value in cells:
        assert float(value) == pytest.approx(value_at(stats, key), abs=1e-12), key
    assert not re.search(r"<(link|img|iframe)\b|\bsrc=|https?://", page)  # nothing fetched
    assert "<b>now</b>" not in page  # message text is data, never markup
    assert "outcome/style <span class='dead'>dead channel</span>" in page


def test_compare_shows_per_task_pass_rate_differences(tmp_path):
    a = make_file(tmp_path / "a.jsonl")
    b = tmp_path / "b.jsonl"
    with TrajectoryWriter(b) as writer:
        for t in range(4):
            for s in range(4):
                writer.write(make_episode(t, s, ok=True if t == 2 else None))
    page = write_report([a], tmp_path / "c.html", compare=[b]).read_text()
    # task-2: 2 of 4 in a, 4 of 4 in b; task-1: errors in a only (1 success of 4 -> 1 of 4 without errors)
    assert "data-sort='0.5'>+0.500</td>" in page
    assert page.count("B − A") == 2


def test_run_folder_report_draws_curves_and_states_the_warning_signs(tmp_path):
    run = tmp_path / "run"
    (run / "rollouts").mkdir(parents=True)
    metrics = [{"step": s, "critic/rewards/mean": 0.05 + 0.01 * s, "val-score/rewards/mean@1": 0.5 - 0.05 * s, "actor/entropy": 1.0} for s in range(1, 9)]  # fmt: skip
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    for step in (1, 2):
        with TrajectoryWriter(run / "rollouts" / f"step-{step:06d}.jsonl") as writer:
            for s in range(4):
                episode = make_episode(0, s)  # task 0 never succeeds: reward 0.2, outcome 0
                episode.reward = 0.0
                writer.write(episode)
    rftgym("report", str(run), "--out", str(tmp_path / "run.html"))
    page = (tmp_path / "run.html").read_text()
    assert page.count("<figure class='curve'") == 2  # train and validation reward share one
    assert "<g class='s1' data-metric='val-score/rewards/mean@1'>" in page
    assert "reward plateau" in page and "few positive episodes: 0.0%" in page and "overfitting?" in page
    assert write_run_report(run, tmp_path / "one.html", steps={2}).read_text().count('"src":"step-000002"') == 4


# --- headless Chromium --------------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/ensure-chromium.sh, run by `make test`)")
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_report_in_headless_chromium(tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    runs = make_file(tmp_path / "a.jsonl")
    out = tmp_path / "report.html"
    rftgym("report", str(runs), "--out", str(out))
    stats = json.loads(rftgym("stats", str(runs), "--json"))
    browser.get(out.as_uri())
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return window.reportReady"))

    checked = 0
    for cell in browser.find_elements(By.CSS_SELECTOR, "#summary td[data-key][data-value]"):
        expected = value_at(stats, cell.get_attribute("data-key"))
        assert float(cell.get_attribute("data-value")) == pytest.approx(expected, abs=1e-12)
        assert cell.text.split()[0] == (str(expected) if isinstance(expected, int) else f"{expected:.3f}")
        checked += 1
    assert checked >= 10
    episodes = stats["episodes"]
    count = browser.find_element(By.ID, "ep-count")
    assert count.text == f"{episodes} of {episodes} episodes"

    Select(browser.find_element(By.ID, "f-err")).select_by_value("error")
    assert count.text == f"{ERRORS} of {episodes} episodes"
    Select(browser.find_element(By.ID, "f-err")).select_by_value("")
    Select(browser.find_element(By.ID, "f-task")).select_by_value("task-3")
    browser.find_element(By.ID, "f-min").send_keys("1")
    rows = browser.find_elements(By.CSS_SELECTOR, "#ep-table tbody tr")
    assert count.text == f"3 of {episodes} episodes" and {r.find_elements(By.TAG_NAME, "td")[1].text for r in rows} == {
        "task-3"
    }

    browser.find_element(By.ID, "f-min").clear()
    browser.find_element(By.ID, "f-max").send_keys("0.5")  # the failed sample task-3#3
    browser.find_element(By.CSS_SELECTOR, "#ep-table tbody tr").click()
    view = browser.find_element(By.ID, "episode-view")
    assert view.get_attribute("data-id") == "task-3#3"
    assert "Cancel order #3 <b>now</b>" in view.text  # shown as text
    assert "→ lookup" in view.text, view.text
    assert "turn reward 0.100 [fmt 1]" in view.text
    assert "12 completion" in view.text and "policy 0.500 s" in view.text
    assert "orders.#3.status" in browser.find_element(By.ID, "db-diff").text

    header = browser.find_elements(By.CSS_SELECTOR, "#task-table thead th")[4]  # pass rate
    header.click()
    header.click()  # descending
    rows = browser.find_elements(By.CSS_SELECTOR, "#task-table tbody tr")
    rates = [float(r.find_elements(By.TAG_NAME, "td")[4].get_attribute("data-sort")) for r in rows]
    assert rates == sorted(rates, reverse=True) and rows[0].find_elements(By.TAG_NAME, "td")[1].text == "task-3"
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_report_refuses_a_folder_that_is_not_a_run_and_compare_of_a_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    for args in (["report", str(tmp_path / "empty")], ["report", str(tmp_path), "--compare", "x.jsonl"]):
        done = subprocess.run([sys.executable, "-m", "rftgym", *args], capture_output=True, text=True)
        assert done.returncode == 2 and "error:" in done.stderr and not (tmp_path / "report.html").exists()
