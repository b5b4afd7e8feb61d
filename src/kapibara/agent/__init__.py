"""kapibara.agent"""
