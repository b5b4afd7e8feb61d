"""kapibara.evals"""
