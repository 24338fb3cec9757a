"""``rftgym report`` on a large file: build time, page size, and in headless Chromium the time until
the page is usable, a filter applied, and an episode opened.

Real customer-service episodes (the Retail env's oracle and noop policies, with their policy
documents and tool calls) are copied until the file holds ``--episodes`` of them, over 500 tasks.
Needs Debian's chromium and chromium-driver (``scripts/ensure-chromium.sh``) and selenium.

    .venv/bin/python bench/report_load.py [--episodes 10000] [--screenshot docs/report.png]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rftgym.report import write_report
from rftgym.trajectories import TrajectoryWriter, read_trajectories


def make_file(directory: Path, episodes: int) -> Path:
    """``episodes`` episodes, 8 per task, copied from real oracle and noop rollouts of Retail."""
    seeds = []
    for policy in ("oracle", "noop"):
        out = directory / f"{policy}.jsonl"
        subprocess.run(
            [sys.executable, "-m", "rftgym", "rollout", "rftgym/Retail-v0", "--policy", policy, "--num-tasks", "20",
             "--out", str(out), "--no-progress"],
            check=True, capture_output=True,
        )  # fmt: skip
        seeds += list(read_trajectories(out))
    path = directory / "big.jsonl"
    with TrajectoryWriter(path) as writer:
        for i in range(episodes):
            task, sample = divmod(i, 8)
            seed = seeds[(task % 20) + 20 * (sample % 3 == 0)]  # about a third of each group fails
            data = seed.to_dict()
            data.update(id=f"task-{task:04d}#{sample}", task_id=f"task-{task:04d}", group_id=f"task-{task:04d}", sample_index=sample)  # fmt: skip
            writer.write(data)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=10_000)
    parser.add_argument("--screenshot", type=Path, help="also save a screenshot of the page with an episode open")
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    with tempfile.TemporaryDirectory() as tmp:
        path = make_file(Path(tmp), args.episodes)
        started, cpu = time.perf_counter(), time.process_time()
        out = write_report([path], Path(tmp) / "report.html")
        build_s, cpu_s = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"{args.episodes} episodes: file {path.stat().st_size / 1e6:.1f} MB, report {out.stat().st_size / 1e6:.1f} MB built in {build_s:.2f} s ({cpu_s:.2f} s of CPU: the figure a loaded machine leaves alone)"
        )
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for flag in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,1500",
        ):
            options.add_argument(flag)
        service = webdriver.ChromeService(executable_path=shutil.which("chromedriver"))
        driver = webdriver.Chrome(options=options, service=service)
        try:
            for attempt in range(3):
                driver.get(out.as_uri())
                ready = driver.execute_script("return window.reportReady")
                loaded = driver.execute_script(
                    "const t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd"
                )
                filtered = driver.execute_script(
                    "const t0 = performance.now(); const s = document.getElementById('f-err');"
                    "s.value = 'success'; s.dispatchEvent(new Event('change'));"
                    "const m = document.getElementById('f-id'); m.value = '#1'; m.dispatchEvent(new Event('input'));"
                    "return performance.now() - t0"
                )
                opened = driver.execute_script(
                    "const t0 = performance.now(); document.querySelector('#ep-table tbody tr').click();"
                    "return performance.now() - t0"
                )
                count = driver.find_element(By.ID, "ep-count").text
                print(f"load {attempt + 1}: usable after {ready:.0f} ms (load event {loaded:.0f} ms); two filters "
                      f"{filtered:.0f} ms ({count}); first episode opened in {opened:.0f} ms")  # fmt: skip
            if args.screenshot:
                driver.execute_script("document.getElementById('episode-view').scrollIntoView()")
                driver.save_screenshot(str(args.screenshot))
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
