# Battery level (pure).
def battery_percent(battery_mv):
    """LiPo voltage -> 0..100 % (linear between 3.3 V and 4.2 V; coarse but monotonic)."""
    pct = (battery_mv - 3300) * 100 // 900
    return 0 if pct < 0 else 100 if pct > 100 else pct
