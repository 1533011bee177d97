"""fastact/bench"""
