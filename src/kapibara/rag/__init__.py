"""kapibara.rag"""
