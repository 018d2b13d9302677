from ui import leaderboard_page, state

state.require_entry_script()
leaderboard_page.render()
