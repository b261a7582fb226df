print("vimana")
