"""Browser helpers: sign in through the form, the accessibility check (axe-core from axe-playwright-python)."""

from __future__ import annotations

from typing import Any

from axe_playwright_python.async_playwright import Axe

from resolvers.workspaces import demo

AXE = Axe()
BLOCKING = {"serious", "critical"}


def demo_email(label: str) -> str:
    return f"{label}@demo.example.com"


async def sign_in(page: Any, workspace: str, email: str, password: str = demo.PASSWORD) -> None:
    await page.goto("/admin/login")
    await page.get_by_label("Workspace").fill(workspace)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/admin/")


async def blocking_violations(page: Any) -> list[str]:
    """Serious or critical axe-core violations on the current page, one line each."""
    results = await AXE.run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


async def unlabelled_inputs(page: Any) -> list[str]:
    """Visible form controls with no label (a <label for>, a wrapping label, aria-label or aria-labelledby)."""
    return await page.evaluate(  # type: ignore[no-any-return]
        """() => [...document.querySelectorAll('input, select, textarea')]
            .filter(el => el.type !== 'hidden')
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !el.getAttribute('aria-labelledby'))
            .map(el => el.outerHTML)"""
    )
