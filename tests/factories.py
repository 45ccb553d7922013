"""Builders for test data."""


def item(external_id: str, n_samples: int = 2, prompt="Say something useful.", **extra) -> dict:
    """One ingestion item with `n_samples` samples named s0, s1, ..."""
    samples = [
        {"external_id": f"s{i}", "text": f"Answer {i} to {external_id}", "model": f"model-{i % 2}"}
        for i in range(n_samples)
    ]
    return {"external_id": external_id, "prompt": prompt, "samples": samples, **extra}
