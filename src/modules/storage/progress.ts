/** Emits at most once per whole percent of `total`, and always the 100 % mark. */
export class PercentProgress {
  private last = -1
  private readonly total: number
  private readonly emit: (done: number, percent: number) => void

  constructor (total: number, emit: (done: number, percent: number) => void) {
    this.total = total
    this.emit = emit
  }

  update (done: number): void {
    const percent = this.total <= 0 ? 100 : Math.min(100, Math.floor((done * 100) / this.total))
    if (percent <= this.last) return
    this.last = percent
    this.emit(done, percent)
  }
}
