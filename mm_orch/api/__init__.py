"""HTTP job service: python -m mm_orch.main --serve (FastAPI + uvicorn); see app.create_app()."""
