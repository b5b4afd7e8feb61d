"""kapibara.models"""
