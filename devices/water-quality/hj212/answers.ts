/** The platform's answers to a data logger: 9014 data answer, 9011 request answer, 9012 execution result. */
import { HJ212_CN, type Hj212Cp, type Hj212Message } from './segment.ts'

function answer(to: Hj212Message, cn: string, cp: Hj212Cp): Hj212Message {
  const m: Hj212Message = { st: '91', cn, mn: to.mn, flag: 4, cp }
  if (to.qn !== undefined) m.qn = to.qn
  if (to.pw !== undefined) m.pw = to.pw
  return m
}

/** 9014 data answer to an upload whose Flag asked for one (same QN). */
export function dataAnswer(to: Hj212Message): Hj212Message {
  return answer(to, HJ212_CN.dataAnswer, [])
}

/** 9011 request answer with QnRtn. */
export function requestAnswer(to: Hj212Message, qnRtn: number): Hj212Message {
  return answer(to, HJ212_CN.requestAnswer, [[['QnRtn', String(qnRtn)]]])
}

/** 9012 execution result with ExeRtn. */
export function executionResult(to: Hj212Message, exeRtn: number): Hj212Message {
  return answer(to, HJ212_CN.executionResult, [[['ExeRtn', String(exeRtn)]]])
}
